"""What the staff review page shows about a version: what changed since the last approved
version, its upload warnings, and its package's files.

The files are read from the stored archive (the bytes the sandbox runs), with the SDK's
own reader; a file is looked up by its name in that archive, never joined onto a path, so a
``?file=../../etc/passwd`` is just a name that is not there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import default_storage
from plugyard_sdk.package import read_package
from plugyard_sdk.permissions import UnknownPermission, normalise_permission

from marketplace.display import PluginFacts, plugin_facts
from plugins_core.models import PluginVersion
from plugins_core.packages import package_limits

__all__ = ["MAX_SHOWN_BYTES", "Change", "FileEntry", "ReviewFacts", "changelog", "package_files", "review_facts", "shown_text"]

#: A file bigger than this is shown up to it, with a note: a review page is read, not downloaded.
MAX_SHOWN_BYTES = 200_000


@dataclass(frozen=True)
class Change:
    """One list compared with the last approved version's: what was added, removed, kept."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    text: bool


@dataclass(frozen=True)
class ReviewFacts:
    version: PluginVersion
    facts: PluginFacts
    compared_with: PluginVersion | None  # None: no version was approved before, all is new
    permissions: Change
    domains: Change
    warnings: list[dict[str, str]]
    files: list[FileEntry]


def _canonical(names: Any) -> list[str]:
    out = []
    for name in names or []:
        try:
            out.append(normalise_permission(name))
        except UnknownPermission:
            out.append(str(name))
    return list(dict.fromkeys(out))


def compare(new: list[str], old: list[str] | None) -> Change:
    old = old or []
    return Change(
        added=[n for n in new if n not in old],
        removed=[n for n in old if n not in new],
        kept=[n for n in new if n in old],
    )


def package_files(version: PluginVersion) -> dict[str, bytes]:
    """The files of the version's stored archive, by their names in it."""
    with default_storage.open(version.package.name, "rb") as handle:
        data = handle.read()
    return dict(read_package(data, version.package.name, package_limits()).files)


def _is_text(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return False
    try:
        data[:MAX_SHOWN_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= MAX_SHOWN_BYTES - 3  # cut inside a character at the cap only
    return True


def shown_text(data: bytes) -> tuple[str | None, bool]:
    """``(text, truncated)`` for a file the page may show; ``(None, False)`` for a binary one."""
    if not _is_text(data):
        return None, False
    return data[:MAX_SHOWN_BYTES].decode("utf-8", "ignore"), len(data) > MAX_SHOWN_BYTES


def changelog(files: dict[str, bytes]) -> tuple[str, str] | None:
    """``(name, text)`` of the package's top-level CHANGELOG / CHANGES / RELEASE_NOTES, if any."""
    for name in sorted(files):
        stem = name.rsplit(".", 1)[0].upper()
        if "/" not in name and stem in {"CHANGELOG", "CHANGES", "RELEASE_NOTES", "HISTORY"}:
            text, _truncated = shown_text(files[name])
            if text is not None:
                return name, text
    return None


def review_facts(version: PluginVersion, approved: PluginVersion | None, files: dict[str, bytes]) -> ReviewFacts:
    manifest = version.manifest if isinstance(version.manifest, dict) else {}
    old = (approved.manifest if isinstance(approved.manifest, dict) else {}) if approved is not None else None
    return ReviewFacts(
        version=version,
        facts=plugin_facts(version),
        compared_with=approved,
        permissions=compare(_canonical(manifest.get("permissions")), _canonical(old.get("permissions")) if old else None),
        domains=compare([str(d) for d in manifest.get("allowed_domains") or []],
                        [str(d) for d in old.get("allowed_domains") or []] if old else None),
        warnings=[w for w in version.warnings or [] if isinstance(w, dict)],
        files=[FileEntry(path, len(data), _is_text(data)) for path, data in sorted(files.items())],
    )
