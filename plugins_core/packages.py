"""Storing uploaded packages: archives content-addressed by sha256, and unpacked copies.

Reading and validating an archive is the SDK's job (``plugyard_sdk.package``), so the CLI's
``validate`` and the server give the same answer; this module adds the server's limits and
where the bytes live.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from plugyard_sdk.package import PackageLimits, PluginPackage, extract_to, read_package

__all__ = ["ensure_unpacked", "remove_unpacked", "package_limits", "parse_upload", "plugin_dir", "store_archive", "unpack"]


def package_limits(scan_timeout_s: float | None = None) -> PackageLimits:
    limits = PackageLimits(**settings.PLUGYARD_PACKAGE_LIMITS)
    if scan_timeout_s is not None:
        limits = dataclasses.replace(limits, scan_timeout_s=scan_timeout_s)
    return limits


def parse_upload(data: bytes, filename: str, scan_timeout_s: float | None = None) -> PluginPackage:
    """Read and validate an uploaded archive; raises ``PackageInvalid`` with every problem."""
    return read_package(data, filename, package_limits(scan_timeout_s))


def archive_name(sha256: str, package_format: str) -> str:
    return f"packages/{sha256[:2]}/{sha256}.{package_format}"


def store_archive(data: bytes, sha256: str, package_format: str) -> tuple[str, bool]:
    """Save the archive under its hash; returns its storage name and whether it was new."""
    name = archive_name(sha256, package_format)
    if default_storage.exists(name):
        return name, False
    return default_storage.save(name, ContentFile(data)), True


def plugin_dir(sha256: str) -> Path:
    return Path(settings.PLUGYARD_PLUGIN_ROOT) / sha256


def unpack(package: PluginPackage) -> Path:
    """Unpack a package once, read-only, where the sandbox binds it; returns the directory.

    The files go to a temporary directory first and are renamed into place, so a reader
    never sees a half-written plugin.
    """
    target = plugin_dir(package.sha256)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        extract_to(package, staging)
        os.chmod(staging, 0o555)
        os.rename(staging, target)
    except OSError:
        if target.exists():  # another process unpacked the same archive first
            _remove_tree(staging)
            return target
        _remove_tree(staging)
        raise
    return target


def remove_unpacked(sha256: str) -> None:
    """Remove an unpacked copy (after a refused upload); the archive store is untouched."""
    target = plugin_dir(sha256)
    if target.exists():
        _remove_tree(target)


def _remove_tree(path: Path) -> None:
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
    os.chmod(path, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def ensure_unpacked(version) -> Path:
    """The unpacked directory of a stored version, unpacking it from storage on first use.

    A new web or worker machine has the database and the package store but not the
    unpacked copies; this fills them in.
    """
    target = plugin_dir(version.sha256)
    if target.exists():
        return target
    with default_storage.open(version.package.name, "rb") as handle:
        data = handle.read()
    return unpack(read_package(data, version.package.name, package_limits()))
