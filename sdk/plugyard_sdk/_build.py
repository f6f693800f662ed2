"""Packing a plugin folder and checking it as the server would: what ``build``, ``validate``,
``publish`` and ``dev`` share.

`build_archive` makes the deterministic ``.tar.gz`` every command sends; `_check` runs the
server's validator (`plugyard_sdk.validation`) on it and prints the answer.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
from pathlib import Path
from typing import TextIO

from . import validation
from .manifest import MANIFEST_FILENAMES, parse_manifest
from .package import PackageLimits, PluginPackage, read_package
from .problems import PackageInvalid, Problem

__all__ = ["CliError", "build_archive", "collect_source_files"]

# Fixed mtime (1980-01-01, the zip epoch) so the same sources always build the same bytes.
_MTIME = 315532800
_SKIP_DIRS = frozenset({"dist", "build", "tests", "__pycache__", "node_modules", "venv"})
_SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info")


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def collect_source_files(directory: Path) -> dict[str, bytes]:
    """The files a build ships: not hidden files, caches, tests, requirements or build output."""
    if not directory.is_dir():
        raise CliError(f"{directory} is not a folder")
    files: dict[str, bytes] = {}
    for root, dirs, names in os.walk(directory, followlinks=False):
        here = Path(root)
        for name in list(dirs):
            if (here / name).is_symlink():
                raise CliError(f"{here / name} is a symbolic link; plugins cannot contain links")
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and not d.endswith(_SKIP_SUFFIXES)
            and not (here == directory and d in _SKIP_DIRS)
            and d != "__pycache__"
        )
        for name in sorted(names):
            path = here / name
            if name.startswith(".") or name.endswith(_SKIP_SUFFIXES):
                continue
            if here == directory and (
                name == "conftest.py" or re.fullmatch(r"requirements.*\.txt", name)
            ):
                continue  # development-only files: tests' setup, pip requirements
            if path.is_symlink():
                raise CliError(f"{path} is a symbolic link; plugins cannot contain links")
            if path.is_file():
                files[path.relative_to(directory).as_posix()] = path.read_bytes()
    return files


def _identity(files: dict[str, bytes], fallback: str) -> tuple[str, str]:
    for name in MANIFEST_FILENAMES:
        if name in files:
            try:
                manifest = parse_manifest(name, files[name])
            except PackageInvalid:
                break
            return manifest.slug, manifest.version
    return fallback, "0.0.0"


def build_archive(directory: Path) -> tuple[bytes, str]:
    """A deterministic ``<slug>-<version>.tar.gz`` of the folder: ``(bytes, file name)``.

    Entries are sorted, owned by root with fixed mtimes and modes, under one folder
    ``<slug>-<version>/``.
    """
    files = collect_source_files(directory)
    slug, version = _identity(files, directory.resolve().name or "plugin")
    stem = f"{slug}-{version}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(files):
            info = tarfile.TarInfo(f"{stem}/{path}")
            info.size, info.mtime, info.mode = len(files[path]), _MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(files[path]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as stream:
        stream.write(raw.getvalue())
    return out.getvalue(), f"{stem}.tar.gz"


def _report(
    package: PluginPackage | None,
    problems: list[Problem],
    label: str,
    out: TextIO,
    warnings: list[Problem] | None = None,
) -> None:
    shown = warnings if warnings is not None else (package.warnings if package is not None else [])
    for warning in shown:
        print(f"  warning: {warning}", file=out)
    if package is not None:
        m = package.manifest
        print(f"OK: {m.slug} {m.version} is valid ({len(package.files)} files)", file=out)
        if m.secrets:
            # An installation cannot be enabled until each is set, so say so before upload.
            names = ", ".join(s.name for s in m.secrets)
            print(f"  needs secrets (set them before enabling): {names}", file=out)
        return
    print(f"{label}: {len(problems)} problem{'s' * (len(problems) != 1)}", file=out)
    for problem in problems:
        print(f"  {problem}", file=out)


def _check(data: bytes, name: str, out: TextIO, *, load: bool = True) -> PluginPackage:
    """Validate as an upload would; ``load=False`` stops after `read_package` (shape, scan)."""
    if load:
        package, findings = validation.validate_archive(data, name)
    else:
        try:
            package = read_package(data, name, PackageLimits())
            findings = validation.Findings([], list(package.warnings))
        except PackageInvalid as exc:
            package, findings = None, validation.Findings(list(exc.problems))
    if package is None or findings.problems:
        _report(None, findings.problems, f"{name} is invalid", out, findings.warnings)
        raise CliError("validation failed", 1)
    _report(package, [], name, out, findings.warnings)
    return package
