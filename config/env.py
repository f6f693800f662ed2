"""Reading settings from the environment, with local defaults kept under ``var/``.

A fresh clone runs with no configuration at all: keys that must persist across restarts
(the Django secret key, the Fernet key for secrets) are generated once into ``var/``.
Production sets them in the environment instead, and then ``var/`` is never written.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

__all__ = ["env_bool", "env_int", "env_list", "persistent_value"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _generate(kind: str) -> str:
    if kind == "fernet":
        return Fernet.generate_key().decode()
    return secrets.token_urlsafe(50)


def persistent_value(env_name: str, var_dir: Path, filename: str, kind: str) -> str:
    """The environment's value, or one generated once and kept in ``var/`` (mode 0600)."""
    value = os.environ.get(env_name)
    if value:
        return value
    path = var_dir / filename
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = _generate(kind)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its value
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
