"""``config_schema``: check that it is a JSON Schema, fill defaults, validate a config.

Shared by the manifest (the schema itself), the server (``PATCH /api/plugins/<id>/config``)
and the admin. Remote ``$ref`` is refused and never fetched.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from jsonschema.validators import validator_for
from referencing import Registry

from .problems import Problem, ProblemCode, format_loc

__all__ = ["apply_config_defaults", "check_config_schema", "validate_config"]


def _json_path(parts: Any, prefix: str) -> str:
    return format_loc([p if isinstance(p, (int, str)) else str(p) for p in parts], prefix)


def _remote_refs(node: Any, path: list[str | int]) -> list[tuple[list[str | int], str]]:
    found: list[tuple[list[str | int], str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                found.append(([*path, key], value))
            else:
                found += _remote_refs(value, [*path, str(key)])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _remote_refs(value, [*path, index])
    return found


def check_config_schema(schema: Any, field: str = "config_schema") -> list[Problem]:
    """Problems with a ``config_schema``: it must be a valid JSON Schema of ``type: object``."""
    invalid = ProblemCode.INVALID_SCHEMA
    if not isinstance(schema, dict):
        return [
            Problem(field, ProblemCode.INVALID_TYPE, "config_schema must be a JSON Schema object")
        ]
    try:
        cls = validator_for(schema)
        problems = [
            Problem(_json_path(e.absolute_path, field), invalid, e.message)
            for e in cls(cls.META_SCHEMA).iter_errors(schema)
        ]
    except Exception as exc:  # a schema malformed enough to break the meta-validator itself
        return [Problem(field, invalid, f"not a valid JSON Schema: {exc}")]
    if schema.get("type") != "object":
        problems.append(
            Problem(f"{field}.type", invalid, "config_schema must have a top-level type: object")
        )
    for path, ref in _remote_refs(schema, []):
        problems.append(
            Problem(
                _json_path(path, field),
                invalid,
                f"only local references (#/...) are allowed, not {ref!r}",
            )
        )
    properties = schema.get("properties")
    if not problems and isinstance(properties, dict):
        for name, sub in properties.items():
            if isinstance(sub, dict) and "default" in sub:
                for err in _config_errors(
                    sub, sub["default"], f"{field}.properties.{name}.default"
                ):
                    problems.append(
                        Problem(
                            err.field,
                            invalid,
                            f"the default does not match its own schema: {err.message}",
                        )
                    )
    return problems


def apply_config_defaults(
    schema: Mapping[str, Any] | None, config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A copy of ``config`` with every missing property's ``default`` filled in (nested objects too)."""
    result: dict[str, Any] = copy.deepcopy(dict(config or {}))
    properties = (schema or {}).get("properties")
    if not isinstance(properties, dict):
        return result
    for name, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        if name not in result and "default" in sub:
            result[name] = copy.deepcopy(sub["default"])
        elif isinstance(result.get(name), dict) and isinstance(sub.get("properties"), dict):
            result[name] = apply_config_defaults(sub, result[name])
    return result


def validate_config(schema: Mapping[str, Any] | None, config: Any) -> list[Problem]:
    """Every way ``config`` breaks ``schema``, by path (``config.threshold``). Apply defaults first."""
    if not schema:
        return (
            []
            if isinstance(config, dict)
            else [Problem("config", ProblemCode.INVALID_TYPE, "config must be an object")]
        )
    return _config_errors(dict(schema), config, "config")


_CONFIG_CODES = {
    "type": ProblemCode.INVALID_TYPE,
    "enum": ProblemCode.INVALID_CHOICE,
    "const": ProblemCode.INVALID_CHOICE,
    "additionalProperties": ProblemCode.UNKNOWN_FIELD,
}


def _config_errors(schema: dict[str, Any], instance: Any, prefix: str) -> list[Problem]:
    problems: list[Problem] = []
    try:
        cls = validator_for(schema)
        validator = cls(schema, registry=Registry(), format_checker=cls.FORMAT_CHECKER)
        errors = sorted(
            validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]
        )
        for err in errors:
            field = _json_path(err.absolute_path, prefix)
            if err.validator == "required":
                missing = next((r for r in err.validator_value if repr(r) in err.message), None)
                field = f"{field}.{missing}" if missing else field
                problems.append(Problem(field, ProblemCode.REQUIRED, err.message))
            else:
                problems.append(
                    Problem(
                        field,
                        _CONFIG_CODES.get(str(err.validator), ProblemCode.INVALID_VALUE),
                        err.message,
                    )
                )
    except Exception as exc:  # unresolvable $ref and friends: the schema's fault, say so
        problems.append(
            Problem(prefix, ProblemCode.INVALID_SCHEMA, f"cannot check against the schema: {exc}")
        )
    return problems
