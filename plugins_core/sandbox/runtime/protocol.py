"""Length-prefixed JSON frames over a pipe-like fd (4-byte big-endian length, then UTF-8).

Both sides use it: the worker blocking, the host with a deadline. A frame larger than the
agreed maximum is a protocol violation, which the host treats as a crashed worker — the
worker is hostile once plugin code has run, so nothing it sends is trusted further.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

__all__ = ["FrameTooLarge", "PeerClosed", "ReadTimeout", "encode", "read_frame", "write_frame"]

_HEADER = struct.Struct(">I")


class PeerClosed(EOFError):
    """The other end closed the channel (the worker died, or the host went away)."""


class FrameTooLarge(ValueError):
    """A frame announced a size above the limit."""


class ReadTimeout(TimeoutError):
    """No complete frame before the deadline."""


def encode(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":"), default=str, ensure_ascii=False).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def write_frame(fd: int, message: Any, *, max_size: int | None = None) -> None:
    data = encode(message)
    if max_size is not None and len(data) - _HEADER.size > max_size:
        raise FrameTooLarge(len(data))
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    poller = None
    if deadline is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while remaining:
        if poller is not None:
            wait_ms = int(max(0.0, deadline - time.monotonic()) * 1000)  # type: ignore[operator]
            if not poller.poll(wait_ms):
                raise ReadTimeout()
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise PeerClosed()
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, *, max_size: int, deadline: float | None = None) -> Any:
    """Read one frame; `deadline` is a `time.monotonic()` value (None blocks)."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > max_size:
        raise FrameTooLarge(size)
    return json.loads(_read_exact(fd, size, deadline).decode("utf-8"))
