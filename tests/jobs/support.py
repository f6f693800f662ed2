"""Helpers shared by the jobs, integration and fault tests."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import make_zip
from tests.kit import install  # noqa: F401  (the jobs tests install through the one kit)

JOB_PLUGINS = Path(__file__).parent / "plugins"


def plugin_zip(name: str, **replace: str) -> bytes:
    root = JOB_PLUGINS / name
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            data = path.read_text()
            for old, new in replace.items():
                data = data.replace(old, new)
            files[str(path.relative_to(root))] = data.encode()
    return make_zip(files)
