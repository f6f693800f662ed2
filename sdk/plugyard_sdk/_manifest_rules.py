"""Manifest rules across fields, run on the raw document beside the shape check.

They read the raw mapping defensively (any value may have the wrong type), so a publisher
sees duplicates and conflicts in the same answer as type errors. Internal to the SDK.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ._fields import route_key
from .config_schema import check_config_schema
from .permissions import UnknownPermission, normalise_permission
from .problems import Problem, ProblemCode, format_loc

__all__ = ["check_rules"]


def _duplicates(items: Any, key: Any, field: str, what: str, sub: str = "") -> list[Problem]:
    """Problems for repeated items in a raw list; ``key(item)`` returns a hashable or None.

    ``sub`` names the item's field that repeats (``jobs[1].name``).
    """
    problems: list[Problem] = []
    if not isinstance(items, list):
        return problems
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        try:
            k = key(item)
        except (TypeError, ValueError, AttributeError, UnknownPermission):
            continue
        if k is None:
            continue
        if k in seen:
            problems.append(
                Problem(
                    format_loc([index, sub] if sub else [index], field),
                    ProblemCode.DUPLICATE,
                    f"{what} repeats {field}[{seen[k]}]",
                )
            )
        else:
            seen[k] = index
    return problems


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else None


def _route_overlaps(routes: Any) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(routes, list):
        return problems
    seen: dict[tuple[str, str], int] = {}
    for index, route in enumerate(routes):
        path, methods = _get(route, "path"), _get(route, "methods")
        if not isinstance(path, str):
            continue
        if methods is None:
            methods = ["GET"]
        if not isinstance(methods, list):
            continue
        problems += _duplicates(
            methods,
            lambda m: m.upper() if isinstance(m, str) else None,
            f"routes[{index}].methods",
            "method",
        )
        for method in {m.upper() for m in methods if isinstance(m, str)}:
            k = (route_key(path), method)
            if k in seen and seen[k] != index:
                problems.append(
                    Problem(
                        f"routes[{index}].path",
                        ProblemCode.DUPLICATE,
                        f"{method} {path} is already declared by routes[{seen[k]}]",
                    )
                )
                break
            seen.setdefault(k, index)
    return problems


def check_rules(data: dict[str, Any], fmt: str) -> list[Problem]:
    problems: list[Problem] = []
    slug, ident = data.get("slug"), data.get("id")
    if slug is None and ident is None:
        name = "id" if fmt == "ops-center" else "slug"
        problems.append(
            Problem(
                name, ProblemCode.REQUIRED, f"{name} is required (the plugin's unique identifier)"
            )
        )
    elif slug is not None and ident is not None and slug != ident:
        problems.append(
            Problem(
                "id",
                ProblemCode.CONFLICT,
                f"id {ident!r} differs from slug {slug!r}; give one of them",
            )
        )
    entry, runtime = data.get("entry"), data.get("runtime")
    entrypoint = _get(runtime, "entrypoint")
    if entry is not None and entrypoint is not None and entry != entrypoint:
        problems.append(
            Problem(
                "runtime.entrypoint",
                ProblemCode.CONFLICT,
                f"runtime.entrypoint {entrypoint!r} differs from entry {entry!r}",
            )
        )
    repo, repository = data.get("repo_url"), data.get("repository")
    if repo is not None and repository is not None and repo != repository:
        problems.append(
            Problem(
                "repository",
                ProblemCode.CONFLICT,
                "repository differs from repo_url; give one of them",
            )
        )
    pricing = data.get("pricing")
    if isinstance(pricing, dict):
        model, price = pricing.get("model", "free"), pricing.get("price", 0)
        if isinstance(price, (int, float, str)) and not isinstance(price, bool):
            try:
                amount = Decimal(str(price))
            except ArithmeticError:
                amount = None
            if amount is not None and amount.is_finite():
                if model == "free" and amount != 0:
                    problems.append(
                        Problem(
                            "pricing.price",
                            ProblemCode.INVALID_PRICE,
                            "a free plugin must have price 0",
                        )
                    )
                elif model in ("one-time", "subscription") and amount <= 0:
                    problems.append(
                        Problem(
                            "pricing.price",
                            ProblemCode.INVALID_PRICE,
                            f"a {model} plugin needs a price above 0",
                        )
                    )
    problems += _duplicates(
        data.get("permissions"), normalise_permission, "permissions", "permission"
    )
    problems += _duplicates(
        data.get("events"), lambda e: e if isinstance(e, str) else None, "events", "event"
    )
    for field in ("hooks", "filters"):
        problems += _duplicates(
            data.get(field), lambda h: (h.get("event"), h.get("handler")), field, "hook"
        )
    problems += _duplicates(
        data.get("jobs"),
        lambda j: j.get("name") if isinstance(j.get("name"), str) else None,
        "jobs",
        "job name",
        "name",
    )
    problems += _duplicates(
        data.get("secrets"),
        lambda x: x if isinstance(x, str) else x.get("name") if isinstance(x.get("name"), str) else None,
        "secrets",
        "secret name",
    )
    problems += _route_overlaps(data.get("routes"))
    if isinstance(data.get("config_schema"), dict):
        problems += check_config_schema(data["config_schema"])
    return problems
