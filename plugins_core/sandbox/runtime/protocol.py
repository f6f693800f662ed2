"""Length-prefixed JSON frames over a socket fd (4-byte big-endian length, then UTF-8).

Every party uses it: the worker and the zygote (blocking), the sandbox service and its
callers (each read *and* write with a deadline, on non-blocking fds). Whatever a frame
came from, it is decoded as hostile input:

- a frame larger than the agreed maximum is refused from its header, before it is read;
- NaN and Infinity are refused both ways (they are not JSON, and Django's encoders and
  PostgreSQL's jsonb refuse them later, where the failure would be an exception);
- nesting deeper than ``MAX_DEPTH`` and strings longer than ``MAX_STRING`` are refused.

A refused frame raises :class:`BadFrame` (a ``ValueError``); the host treats it as a
crashed worker. Standard library only: this module is bound into the jail.
"""

from __future__ import annotations

import errno
import json
import math
import os
import select
import struct
import time
from typing import Any

__all__ = [
    "MAX_DEPTH", "MAX_STRING", "BadFrame", "FrameTooLarge", "PeerClosed", "ReadTimeout", "WriteTimeout",
    "check_value", "decode", "encode", "read_frame", "write_frame",
]

_HEADER = struct.Struct(">I")
MAX_DEPTH = 64  # containers inside containers, counting the frame itself
MAX_STRING = 1 << 20  # characters in one string (keys included)


class PeerClosed(EOFError):
    """The other end closed the channel (the worker died, or the host went away)."""


class BadFrame(ValueError):
    """A frame that is not acceptable JSON: NaN, too deep, a string too long, not UTF-8."""


class FrameTooLarge(BadFrame):
    """A frame announced a size above the limit."""


class ReadTimeout(TimeoutError):
    """No complete frame before the deadline."""


class WriteTimeout(TimeoutError):
    """The peer did not take the whole frame before the deadline (it stopped reading)."""


def _refuse_constant(name: str) -> Any:
    raise BadFrame(f"{name} is not JSON")


def check_value(value: Any, *, max_depth: int = MAX_DEPTH, max_string: int = MAX_STRING) -> None:
    """Raise BadFrame when ``value`` nests too deep, holds a too-long string or a non-finite float.

    Iterative, so a hostile value cannot make the checker itself recurse.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if len(item) > max_string:
                raise BadFrame(f"a string of {len(item)} characters (the limit is {max_string})")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise BadFrame(f"{item!r} is not JSON")
        elif isinstance(item, (dict, list, tuple)):
            if depth > max_depth:
                raise BadFrame(f"nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and len(key) > max_string:
                        raise BadFrame(f"a key of {len(key)} characters (the limit is {max_string})")
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def encode(message: Any) -> bytes:
    """One frame. ValueError (BadFrame) for NaN/Infinity; values JSON lacks become strings."""
    try:
        body = json.dumps(message, separators=(",", ":"), default=str, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise BadFrame(str(exc)) from None
    except RecursionError:
        raise BadFrame(f"nested deeper than {MAX_DEPTH} levels") from None
    data = body.encode("utf-8")
    return _HEADER.pack(len(data)) + data


def decode(body: bytes) -> Any:
    """A frame's body, checked: BadFrame for anything a hostile peer could abuse."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise BadFrame(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise BadFrame("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadFrame(f"not JSON: {exc.msg}") from None
    check_value(value)
    return value


def _wait(poller: select.poll, deadline: float | None, timeout_error: type[TimeoutError]) -> None:
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not poller.poll(int(remaining * 1000) + 1):
        raise timeout_error()


def write_frame(fd: int, message: Any, *, max_size: int | None = None, deadline: float | None = None) -> None:
    """Write one frame. With ``deadline`` the fd must be non-blocking: a peer that stops
    reading makes this raise WriteTimeout at the deadline instead of blocking forever."""
    data = encode(message)
    if max_size is not None and len(data) - _HEADER.size > max_size:
        raise FrameTooLarge(len(data))
    view = memoryview(data)
    poller = None
    if deadline is not None:
        poller = select.poll()
        poller.register(fd, select.POLLOUT | select.POLLERR | select.POLLHUP)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                raise PeerClosed() from None
            raise
        view = view[written:]
        if view:
            if poller is None:  # a blocking fd only returns short on a signal: write the rest
                continue
            _wait(poller, deadline, WriteTimeout)


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    poller = None
    if deadline is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while remaining:
        try:
            chunk = os.read(fd, min(remaining, 1 << 20))
        except BlockingIOError:
            if poller is None:
                raise
            _wait(poller, deadline, ReadTimeout)
            continue
        except ConnectionResetError:
            raise PeerClosed() from None
        if not chunk:
            raise PeerClosed()
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, *, max_size: int, deadline: float | None = None) -> Any:
    """Read one frame; `deadline` is a `time.monotonic()` value (None blocks; then the fd
    must be blocking)."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > max_size:
        raise FrameTooLarge(size)
    return decode(_read_exact(fd, size, deadline))
