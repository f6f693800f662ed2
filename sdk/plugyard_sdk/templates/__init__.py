"""The five plugin templates ``init --template`` writes, each in both guides' styles.

A template is a folder of files, package data shipped in the wheel:
``<template>/<style>/<path>.tmpl`` becomes ``<path>`` in the new plugin. The ``.tmpl``
suffix keeps the files from being linted, collected by pytest or imported where they lie.
Placeholders are ``{{name}}`` (see `render`); ``_json`` and ``_py`` variants are the value
quoted for JSON/YAML and for Python, so no name or description can break the file. Every
template validates with no problems or warnings and its tests pass under the SDK's kit
(tests/sdk/test_templates.py holds each one to that).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final, Literal

__all__ = ["STYLES", "TEMPLATES", "render", "template_files"]

#: The SBH guide's "Plugin Templates", in its order.
TEMPLATES: Final = ("event-handler", "api-extension", "background-job", "webhook-handler", "data-processor")
STYLES: Final = ("sbh", "ops-center")
_SUFFIX: Final = ".tmpl"
_PLACEHOLDER: Final = re.compile(r"\{\{([a-z_]+)\}\}")
_QUOTED: Final = ("slug", "name", "description", "author", "category", "type")


def render(text: str, values: Mapping[str, str]) -> str:
    """Substitute every ``{{key}}``; an unknown key is a bug in the template and raises KeyError."""
    full = dict(values)
    for key in _QUOTED:
        if key in values:
            full.setdefault(f"{key}_json", json.dumps(values[key]))
            full.setdefault(f"{key}_py", repr(values[key]))
    return _PLACEHOLDER.sub(lambda match: full[match.group(1)], text)


def _walk(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(_SUFFIX):
            yield f"{prefix}{entry.name[: -len(_SUFFIX)]}", entry


def template_files(
    template: str, style: Literal["sbh", "ops-center"], values: Mapping[str, str]
) -> dict[str, str]:
    """Relative path → text of the template's files for ``style``, placeholders filled."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; templates are: {', '.join(TEMPLATES)}")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; styles are: {', '.join(STYLES)}")
    folder = resources.files(__name__).joinpath(template, style)
    return {path: render(entry.read_text(encoding="utf-8"), values) for path, entry in _walk(folder)}
