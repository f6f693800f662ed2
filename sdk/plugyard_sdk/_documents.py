"""Reading manifest and webhook documents: UTF-8, JSON or YAML (``safe_load``), clear errors.

Duplicate JSON keys and YAML aliases are refused: the first hides a mistake, the second can
expand exponentially ("billion laughs"). Internal to the SDK.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from .problems import PackageInvalid, Problem, ProblemCode

__all__ = ["load_document", "load_yaml"]


def load_document(filename: str, raw: bytes) -> Any:
    """Decode a manifest or webhook file: JSON for ``*.json``, ``yaml.safe_load`` otherwise."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PackageInvalid(
            [
                Problem(
                    filename,
                    ProblemCode.INVALID_ENCODING,
                    f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                )
            ]
        ) from None
    if filename.endswith(".json"):
        try:
            return json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKey as exc:
            raise PackageInvalid(
                [Problem(filename, ProblemCode.DUPLICATE, f"key {exc.args[0]!r} appears twice")]
            ) from None
        except json.JSONDecodeError as exc:
            raise PackageInvalid(
                [
                    Problem(
                        filename,
                        ProblemCode.INVALID_JSON,
                        f"line {exc.lineno} column {exc.colno}: {exc.msg}",
                    )
                ]
            ) from None
        except (ValueError, RecursionError) as exc:
            raise PackageInvalid(
                [Problem(filename, ProblemCode.INVALID_JSON, f"cannot read JSON: {exc}")]
            ) from None
    return load_yaml(filename, text)


def load_yaml(filename: str, text: str) -> Any:
    """``yaml.safe_load`` with readable errors; aliases refused (they can expand exponentially)."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise PackageInvalid(
                    [
                        Problem(
                            filename,
                            ProblemCode.INVALID_YAML,
                            f"line {line}: YAML aliases (*name) are not allowed",
                        )
                    ]
                )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise PackageInvalid(
            [Problem(filename, ProblemCode.INVALID_YAML, f"{where}{reason}")]
        ) from None
    except RecursionError:
        raise PackageInvalid(
            [Problem(filename, ProblemCode.INVALID_YAML, "document is nested too deeply")]
        ) from None


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result
