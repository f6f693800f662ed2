"""A package's icon, screenshots and changelog, as the store shows them.

At upload (``plugins_core.signals.version_uploaded``) the version's unpacked files are looked
at once and what the store may show is recorded in ``PackageMedia``: ``static/icon.svg|png``
(or the SBH guide's ``static/logo.*``), up to ``MAX_SCREENSHOTS`` images under
``static/screenshots/``, and the text of a top-level CHANGELOG.md. Each image is checked by
its bytes, not only its name, and refused past its size limit.

Serving keeps one rule against path traversal: a requested name is looked up among the
names recorded at upload, never joined onto a directory, so ``../../settings.py`` is just a
name that is not there. SVG can carry script, so every image answers with ``nosniff`` and a
content security policy that allows no script (and ``sandbox``): opened on its own, an SVG
runs nothing; shown in an ``<img>``, browsers run none anyway.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.http import Http404, HttpResponse

from marketplace.models import PackageMedia
from plugins_core.models import PluginVersion
from plugins_core.packages import ensure_unpacked

__all__ = [
    "IMAGE_TYPES", "MAX_CHANGELOG_CHARS", "MAX_ICON_BYTES", "MAX_SCREENSHOTS", "MAX_SCREENSHOT_BYTES",
    "find_media", "image_response", "media_for", "record_media",
]

MAX_ICON_BYTES = 256 * 1024
MAX_SCREENSHOT_BYTES = 2 * 1024 * 1024
MAX_SCREENSHOTS = 8
MAX_CHANGELOG_CHARS = 50_000

#: The image types served, by extension: (content type, how the bytes must start).
IMAGE_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "webp": ("image/webp", (b"RIFF",)),
    "svg": ("image/svg+xml", ()),  # text: checked by _looks_like_svg
}
_ICON_NAMES = [f"static/{stem}.{ext}" for stem in ("icon", "logo") for ext in ("svg", "png")]
_CHANGELOG_NAMES = ["CHANGELOG.md", "CHANGELOG.txt", "CHANGELOG", "CHANGES.md", "HISTORY.md"]
#: No script may run in an image, SVG included; styles inline in an SVG are harmless.
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@dataclass(frozen=True)
class FoundMedia:
    icon: str
    screenshots: list[str]
    changelog: str


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head)


def _is_image(name: str, data: bytes) -> bool:
    kind = IMAGE_TYPES.get(_extension(name))
    if kind is None:
        return False
    if _extension(name) == "svg":
        return _looks_like_svg(data)
    return any(data.startswith(magic) for magic in kind[1]) and (_extension(name) != "webp" or data[8:12] == b"WEBP")


def find_media(root: Path) -> FoundMedia:
    """What the store may show from an unpacked package at ``root``."""
    def read(name: str, limit: int) -> bytes | None:
        path = root / name
        if not path.is_file() or path.is_symlink() or path.stat().st_size > limit:
            return None
        return path.read_bytes()

    icon = next((name for name in _ICON_NAMES if (data := read(name, MAX_ICON_BYTES)) and _is_image(name, data)), "")
    screenshots: list[str] = []
    folder = root / "static" / "screenshots"
    if folder.is_dir() and not folder.is_symlink():
        for path in sorted(folder.iterdir()):
            name = f"static/screenshots/{path.name}"
            if len(screenshots) < MAX_SCREENSHOTS and (data := read(name, MAX_SCREENSHOT_BYTES)) and _is_image(name, data):
                screenshots.append(name)
    changelog = ""
    for name in _CHANGELOG_NAMES:
        if (data := read(name, MAX_CHANGELOG_CHARS * 4)) is not None:
            changelog = data.decode("utf-8", "replace")[:MAX_CHANGELOG_CHARS]
            break
    return FoundMedia(icon, screenshots, changelog)


def record_media(version: PluginVersion) -> PackageMedia:
    """Look at the version's files once and keep what the store shows (idempotent)."""
    found = find_media(ensure_unpacked(version))
    media, _ = PackageMedia.objects.update_or_create(
        version=version,
        defaults={"icon": found.icon, "screenshots": found.screenshots, "changelog": found.changelog},
    )
    return media


def on_version_uploaded(sender: object, *, version: PluginVersion, **kwargs: object) -> None:
    """``version_uploaded`` receiver: the package is unpacked already, so this reads local files."""
    record_media(version)


def media_for(version: PluginVersion) -> PackageMedia:
    """The version's recorded media; a version uploaded before the store looked is looked at now."""
    media = PackageMedia.objects.filter(version=version).first()
    return media if media is not None else record_media(version)


def image_response(version: PluginVersion, name: str) -> HttpResponse:
    """One of the version's recorded images (``name`` is its path in the package), or 404."""
    media = media_for(version)
    if name not in {media.icon, *media.screenshots} or not name:
        raise Http404("This plugin has no such image.")
    limit = MAX_ICON_BYTES if name == media.icon else MAX_SCREENSHOT_BYTES
    path = ensure_unpacked(version) / name  # a recorded name: checked at upload, never the request's text
    if not path.is_file() or path.is_symlink() or path.stat().st_size > limit:
        raise Http404("This plugin has no such image.")
    data = path.read_bytes()
    if not _is_image(name, data):
        raise Http404("This plugin has no such image.")
    response = HttpResponse(data, content_type=IMAGE_TYPES[_extension(name)][0])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = IMAGE_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # The URL names the version, whose files never change.
    response["Cache-Control"] = "private, max-age=86400, immutable"
    return response
