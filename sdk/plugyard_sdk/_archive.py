"""Reading the entries of an untrusted .zip or .tar.gz, within `PackageLimits`.

Declared sizes are checked before anything is read and actual bytes are counted while
reading, in chunks, so a lying header cannot get past a limit. Links and device files are
refused. Paths are made safe by `safe_name`. Internal to the SDK: `plugyard_sdk.package`
is the public face.
"""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from .problems import PackageInvalid, Problem, ProblemCode

__all__ = ["ARCHIVE_FIELD", "PackageLimits", "read_entries", "safe_name"]

_MB = 1024 * 1024
_CHUNK = 64 * 1024
ARCHIVE_FIELD = "archive"
_ARCHIVE = ARCHIVE_FIELD


@dataclass(frozen=True)
class PackageLimits:
    """How big an archive may be. The server passes values from its settings."""

    max_compressed_bytes: int = 10 * _MB
    max_expanded_bytes: int = 50 * _MB
    max_entries: int = 2000
    max_ratio: int = 100
    # Tiny files compress absurdly well (a 10 kB file of spaces); ratios count above this.
    ratio_floor_bytes: int = 64 * 1024
    # The static scan's wall-clock budget (the server passes its load timeout).
    scan_timeout_s: float = 10.0


class _Stop(Exception):
    """A limit was passed: stop reading at once."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


@dataclass
class _Reader:
    limits: PackageLimits
    compressed: int
    entries: list[tuple[str, bytes]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    expanded: int = 0
    count: int = 0

    def count_entry(self) -> None:
        self.count += 1
        if self.count > self.limits.max_entries:
            raise _Stop(
                Problem(
                    _ARCHIVE,
                    ProblemCode.TOO_MANY_ENTRIES,
                    f"the archive has more than {self.limits.max_entries} entries",
                )
            )

    def declare(self, name: str, size: int, compressed: int | None) -> None:
        if self.expanded + size > self.limits.max_expanded_bytes:
            raise _Stop(self._too_large())
        if compressed is not None:
            self._ratio(name, size, compressed)

    def read(self, name: str, stream: io.BufferedIOBase | object, compressed: int | None) -> bytes:
        parts: list[bytes] = []
        size = 0
        while chunk := stream.read(_CHUNK):  # type: ignore[attr-defined]
            size += len(chunk)
            self.expanded += len(chunk)
            if self.expanded > self.limits.max_expanded_bytes:
                raise _Stop(self._too_large())
            if compressed is not None:
                self._ratio(name, size, compressed)
            parts.append(chunk)
        return b"".join(parts)

    def _ratio(self, name: str, size: int, compressed: int) -> None:
        if size > self.limits.ratio_floor_bytes and size > self.limits.max_ratio * max(
            compressed, 1
        ):
            raise _Stop(
                Problem(
                    name,
                    ProblemCode.COMPRESSION_BOMB,
                    f"expands more than {self.limits.max_ratio}:1; refused as a compression bomb",
                )
            )

    def _too_large(self) -> Problem:
        return Problem(
            _ARCHIVE,
            ProblemCode.ARCHIVE_TOO_LARGE,
            f"the files expand to more than {self.limits.max_expanded_bytes} bytes",
        )


def safe_name(name: str) -> tuple[str | None, str | None]:
    """The normalised relative path of an entry, or a reason it is unsafe."""
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        return None, "has control characters in its name"
    if "\\" in name:
        return None, "uses backslashes in its path"
    if len(name) >= 2 and name[1] == ":":
        return None, "has a drive letter"
    if name.startswith("/"):
        return None, "is an absolute path"
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    if name in ("", "."):
        return "", None
    parts = name.split("/")
    if ".." in parts:
        return None, "climbs out of the plugin folder with '..'"
    if any(p in ("", ".") for p in parts) or len(name) > 1024:
        return None, "has an empty, '.' or over-long path segment"
    return name, None


def _read_zip(data: bytes, reader: _Reader) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _Stop(
            Problem(_ARCHIVE, ProblemCode.INVALID_ARCHIVE, f"not a readable zip archive: {exc}")
        ) from None
    if len(infos) > reader.limits.max_entries:
        raise _Stop(
            Problem(
                _ARCHIVE,
                ProblemCode.TOO_MANY_ENTRIES,
                f"the archive has {len(infos)} entries; at most {reader.limits.max_entries} are allowed",
            )
        )
    if sum(i.file_size for i in infos) > reader.limits.max_expanded_bytes:
        raise _Stop(reader._too_large())
    for info in infos:
        reader.count_entry()
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            reader.problems.append(
                Problem(info.filename, ProblemCode.LINK_ENTRY, "symbolic links are not allowed")
            )
            continue
        if info.is_dir():
            continue
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            reader.problems.append(
                Problem(info.filename, ProblemCode.SPECIAL_FILE, "only regular files are allowed")
            )
            continue
        if info.flag_bits & 0x1:
            reader.problems.append(
                Problem(
                    info.filename, ProblemCode.ENCRYPTED_ENTRY, "encrypted entries cannot be read"
                )
            )
            continue
        reader.declare(info.filename, info.file_size, info.compress_size)
        try:
            with archive.open(info) as stream:
                reader.entries.append(
                    (info.filename, reader.read(info.filename, stream, info.compress_size))
                )
        except (
            zipfile.BadZipFile,
            OSError,
            EOFError,
            zlib.error,
            NotImplementedError,
            RuntimeError,
        ) as exc:
            reader.problems.append(
                Problem(info.filename, ProblemCode.INVALID_ARCHIVE, f"cannot be read: {exc}")
            )


def _gunzip(data: bytes, reader: _Reader) -> bytes:
    # Tar headers and padding add up to ~2 kB per entry on top of the files themselves.
    cap = reader.limits.max_expanded_bytes + (reader.limits.max_entries + 10) * 2048
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(_CHUNK):
                out += chunk
                if len(out) > cap:
                    raise _Stop(reader._too_large())
                if len(out) > reader.limits.ratio_floor_bytes and len(
                    out
                ) > reader.limits.max_ratio * len(data):
                    raise _Stop(
                        Problem(
                            _ARCHIVE,
                            ProblemCode.COMPRESSION_BOMB,
                            f"expands more than {reader.limits.max_ratio}:1; refused as a compression bomb",
                        )
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise _Stop(
            Problem(_ARCHIVE, ProblemCode.INVALID_ARCHIVE, f"not a readable gzip stream: {exc}")
        ) from None
    return bytes(out)


def _read_tar(data: bytes, reader: _Reader) -> None:
    raw = _gunzip(data, reader)
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            for member in _members(archive):
                reader.count_entry()
                if member.issym() or member.islnk():
                    reader.problems.append(
                        Problem(
                            member.name,
                            ProblemCode.LINK_ENTRY,
                            "symbolic and hard links are not allowed",
                        )
                    )
                elif member.isdir():
                    continue
                elif not member.isreg():
                    reader.problems.append(
                        Problem(
                            member.name, ProblemCode.SPECIAL_FILE, "only regular files are allowed"
                        )
                    )
                else:
                    reader.declare(member.name, member.size, None)
                    stream = archive.extractfile(member)
                    content = reader.read(member.name, stream, None) if stream else b""
                    reader.entries.append((member.name, content))
    except (tarfile.TarError, OSError, EOFError, UnicodeError) as exc:
        raise _Stop(
            Problem(_ARCHIVE, ProblemCode.INVALID_ARCHIVE, f"not a readable tar archive: {exc}")
        ) from None


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (member := archive.next()) is not None:
        yield member


def read_entries(
    data: bytes, filename: str, limits: PackageLimits
) -> tuple[Literal["zip", "tar.gz"], list[tuple[str, bytes]], list[Problem]]:
    """The archive's regular files as ``(name, bytes)``, and the entries refused on the way.

    The format is sniffed from the bytes (``PK`` → zip, gzip magic → tar.gz), not the name.
    A passed limit raises `PackageInvalid` at once, with whatever was found before it.
    """
    if len(data) > limits.max_compressed_bytes:
        raise PackageInvalid(
            [
                Problem(
                    _ARCHIVE,
                    ProblemCode.ARCHIVE_TOO_LARGE,
                    f"{filename} is {len(data)} bytes; at most {limits.max_compressed_bytes} are allowed",
                )
            ]
        )
    reader = _Reader(limits, len(data))
    fmt: Literal["zip", "tar.gz"]
    try:
        if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            fmt = "zip"
            _read_zip(data, reader)
        elif data[:2] == b"\x1f\x8b":
            fmt = "tar.gz"
            _read_tar(data, reader)
        else:
            raise _Stop(
                Problem(
                    _ARCHIVE,
                    ProblemCode.INVALID_ARCHIVE,
                    f"{filename} is neither a .zip nor a .tar.gz archive",
                )
            )
    except _Stop as stop:
        raise PackageInvalid([*reader.problems, stop.problem]) from None
    return fmt, reader.entries, reader.problems
