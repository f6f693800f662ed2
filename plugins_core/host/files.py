"""Tenant file storage (``ctx.files``) through Django's storage API, under ``tenant-files/<tenant id>/``.

Plugin paths are relative to the tenant's folder. They are normalised here and refused when
they could leave it (``..``, absolute paths, backslashes, control characters), before the
storage backend sees them; the backend's own safe-join is a second line, not the only one.
"""
from __future__ import annotations

import base64
import binascii
import posixpath
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from plugins_core import usage
from plugins_core.host.errors import BadArguments, QuotaExceeded, Refused

__all__ = ["delete", "list_files", "normalise_path", "read", "tenant_root", "upload"]

ROOT = "tenant-files"
MAX_PATH_LENGTH = 512


def _setting(name: str) -> int:
    return int(settings.PLUGYARD_FILES[name])


def tenant_root(tenant) -> str:
    if tenant is None or tenant.pk is None:
        raise Refused("files need a tenant")
    return f"{ROOT}/{int(tenant.pk)}"


def normalise_path(path: Any, *, allow_empty: bool = False) -> str:
    """A clean relative posix path (``a/b.txt``), or Refused naming what is wrong with it."""
    if not isinstance(path, str):
        raise BadArguments("a file path must be a string")
    if len(path) > MAX_PATH_LENGTH:
        raise Refused(f"the path is longer than {MAX_PATH_LENGTH} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise Refused("a file path may not contain control characters")
    if "\\" in path:
        raise Refused("use '/' in file paths, not '\\'")
    if path.startswith("/"):
        raise Refused(f"{path!r} is absolute; paths are relative to the tenant's storage")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Refused(f"{path!r} climbs out with '..'; paths stay inside the tenant's storage")
    if parts and ":" in parts[0]:
        raise Refused(f"{path!r} looks like a drive or URL; paths are relative to the tenant's storage")
    clean = "/".join(parts)
    if not clean and not allow_empty:
        raise BadArguments("the file path is empty")
    return clean


def _name(tenant, path: Any) -> tuple[str, str]:
    clean = normalise_path(path)
    return clean, f"{tenant_root(tenant)}/{clean}"


def list_files(tenant, prefix: Any = "") -> list[str]:
    """Paths (relative to the tenant's storage) that start with ``prefix``, sorted."""
    raw = "" if prefix is None else prefix
    clean = normalise_path(raw, allow_empty=True)
    if clean and isinstance(raw, str) and raw.endswith("/"):
        clean += "/"
    root = tenant_root(tenant)
    # Start the walk at the deepest folder the prefix names, so a tenant with many files
    # does not list all of them to find a few.
    start = posixpath.dirname(clean.rstrip("/")) if not clean.endswith("/") else clean.rstrip("/")
    cap = _setting("max_list")
    found: list[str] = []
    pending = [start]
    while pending and len(found) < cap:
        folder = pending.pop()
        try:
            dirs, files = default_storage.listdir(f"{root}/{folder}" if folder else root)
        except FileNotFoundError:
            continue
        for name in files:
            relative = f"{folder}/{name}" if folder else name
            if relative.startswith(clean):
                found.append(relative)
        pending.extend(f"{folder}/{d}" if folder else d for d in dirs)
    return sorted(found)[:cap]


def read(tenant, path: Any) -> str | dict[str, str] | None:
    """The file's text, or ``{"base64": ...}`` when it is not UTF-8; None when there is no such file."""
    clean, name = _name(tenant, path)
    if not default_storage.exists(name):
        return None
    limit = _setting("max_file_bytes")
    size = default_storage.size(name)
    if size > limit:
        raise QuotaExceeded(f"{clean} is {size} bytes; plugins may read files of at most {limit} bytes")
    with default_storage.open(name, "rb") as handle:
        data = handle.read(limit + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def upload(tenant, path: Any, content: Any = None, base64_content: Any = None, content_type: Any = None) -> dict[str, Any]:
    """Write (or replace) a file; give text as ``content`` or bytes as ``base64``."""
    clean, name = _name(tenant, path)
    if (content is None) == (base64_content is None):
        raise BadArguments("give the file as either 'content' (text) or 'base64' (bytes)")
    if content is not None:
        if not isinstance(content, str):
            raise BadArguments("'content' must be text; send bytes as 'base64'")
        data = content.encode("utf-8")
    else:
        if not isinstance(base64_content, str):
            raise BadArguments("'base64' must be a base64 string")
        try:
            data = base64.b64decode(base64_content, validate=True)
        except (binascii.Error, ValueError):
            raise BadArguments("'base64' is not valid base64") from None
    limit = _setting("max_file_bytes")
    if len(data) > limit:
        raise QuotaExceeded(f"the file is {len(data)} bytes; the limit is {limit} bytes")
    replaced = default_storage.size(name) if default_storage.exists(name) else None
    try:
        usage.charge_files(tenant.pk, len(data) - (replaced or 0), 0 if replaced is not None else 1)
    except usage.FilesOverBudget as over:
        raise QuotaExceeded(str(over)) from None
    if replaced is not None:
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # the backend picked another name: a concurrent writer; don't leave it
        default_storage.delete(saved)
        usage.charge_files(tenant.pk, -len(data), -1)
        raise Refused(f"{clean} is being written by another call; try again")
    return {"path": clean, "size": len(data), "content_type": content_type if isinstance(content_type, str) else None}


def delete(tenant, path: Any) -> bool:
    clean, name = _name(tenant, path)
    if not default_storage.exists(name):
        return False
    size = default_storage.size(name)
    default_storage.delete(name)
    usage.charge_files(tenant.pk, -size, -1)
    return True
