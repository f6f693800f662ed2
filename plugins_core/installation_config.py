"""An installation's config: merged or replaced, defaults applied, validated against its schema.

Below the services and the host's ``ctx.config`` alike, which both change it through here.
"""
from __future__ import annotations

from typing import Any

from plugyard_sdk.config_schema import apply_config_defaults, validate_config

from plugins_core.errors import InvalidConfig
from plugins_core.models import Installation

__all__ = ["update_config"]


def update_config(installation: Installation, changes: dict[str, Any], *, replace: bool = False) -> Installation:
    """Merge ``changes`` into the config (or replace it), apply defaults, validate it.

    A key set to None is removed, as in a JSON merge patch. Raises InvalidConfig naming
    every key that does not match the version's config_schema; nothing is saved then.
    """
    schema = installation.version.config_schema
    merged = dict(changes) if replace else {**installation.config, **changes}
    merged = {key: value for key, value in merged.items() if value is not None or key not in changes}
    merged = apply_config_defaults(schema, merged)
    problems = validate_config(schema, merged)
    if problems:
        raise InvalidConfig(problems)
    installation.config = merged
    installation.save(update_fields=["config", "updated_at"])
    return installation
