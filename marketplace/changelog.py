"""A package's CHANGELOG.md, rendered for the detail page: a small markdown subset, safely.

Every character of the file is HTML-escaped before any markup is added, and the markup is
only what this module writes (headings, lists, paragraphs, ``code``, **bold**) — no links,
no images, no raw HTML — so a changelog cannot put script or a tracking pixel on the page.
``section_for`` cuts out one version's entry for the version history.
"""
from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

__all__ = ["render_changelog", "section_for"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def _inline(text: str) -> str:
    html = escape(text)  # first: nothing below sees a raw "<"
    html = _CODE.sub(r"<code>\1</code>", html)
    return _BOLD.sub(r"<strong>\1</strong>", html)


def render_changelog(text: str, *, top_level: int = 3) -> SafeString:
    """HTML for a changelog; a ``#`` heading becomes ``<h{top_level}>`` so it sits under the page's own."""
    out: list[str] = []
    paragraph: list[str] = []
    in_list = False

    def close() -> None:
        nonlocal in_list
        if paragraph:
            out.append(f"<p>{' '.join(_inline(line) for line in paragraph)}</p>")
            paragraph.clear()
        if in_list:
            out.append("</ul>")
            in_list = False

    for line in text.splitlines():
        if heading := _HEADING.match(line):
            close()
            level = min(6, top_level + len(heading.group(1)) - 1)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif bullet := _BULLET.match(line):
            if paragraph:
                close()
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(bullet.group(1))}</li>")
        elif not line.strip():
            close()
        else:
            if in_list:
                close()
            paragraph.append(line.strip())
    close()
    return mark_safe("\n".join(out))  # noqa: S308 - built only from escaped text and our own tags


def section_for(text: str, version: str) -> str:
    """The entry of ``version`` in a changelog (its heading's body), or "" when it has none.

    A heading names the version as ``## 1.2.0``, ``## [1.2.0] - 2024-05-01`` or ``## v1.2.0``.
    """
    pattern = re.compile(rf"(?<![\w.])v?{re.escape(version)}(?![\w.])")
    lines = text.splitlines()
    for index, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading and pattern.search(heading.group(2)):
            level = len(heading.group(1))
            body: list[str] = []
            for following in lines[index + 1:]:
                other = _HEADING.match(following)
                if other and len(other.group(1)) <= level:
                    break
                body.append(following)
            return "\n".join(body).strip()
    return ""
