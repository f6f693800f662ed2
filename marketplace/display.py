"""What the marketplace pages show about a listing: its price label and its version's facts.

Pure functions of already-loaded rows: no queries here, so the views decide what is loaded
and the pages' query counts stay visible in one place.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cron_descriptor import FormatException, get_description
from plugyard_sdk.permissions import ALL_PERMISSIONS, UnknownPermission, normalise_permission

from marketplace.models import Listing, PricingModel
from plugins_core.events.catalog import get_event
from plugins_core.models import PluginVersion

__all__ = ["ConfigField", "EventInfo", "PermissionInfo", "PluginFacts", "RouteInfo", "money", "plugin_facts", "price_label"]

_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}


def money(amount: Decimal, currency: str) -> str:
    """``$9.00``, ``€12.50``, or ``9.00 CHF`` for currencies without a well-known sign."""
    number = f"{amount:,.2f}"
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def price_label(listing: Listing) -> str:
    """``Free``, ``$9.00 one-time`` or ``$5.00 / month``."""
    if listing.pricing_model == PricingModel.FREE or not listing.price:
        return "Free"
    amount = money(listing.price, listing.currency)
    if listing.pricing_model == PricingModel.SUBSCRIPTION:
        return f"{amount} / month"
    return f"{amount} one-time"


@dataclass(frozen=True)
class PermissionInfo:
    name: str
    description: str


@dataclass(frozen=True)
class EventInfo:
    event: str
    kind: str = "action"
    priority: int | None = None

    @property
    def description(self) -> str:
        """What the event means, from the event catalogue ("" for one it no longer knows)."""
        spec = get_event(self.event)
        return spec.description if spec is not None else ""


@dataclass(frozen=True)
class RouteInfo:
    methods: list[str]
    path: str
    summary: str = ""  # the handler's docstring's first line, from the load report (plain text)


@dataclass(frozen=True)
class JobInfo:
    name: str
    schedule: str  # a cron expression, or "on demand"

    @property
    def in_words(self) -> str:
        """The schedule as a person reads it ("At 02:00 AM"); the expression itself if it is not cron."""
        try:
            return get_description(self.schedule)
        except (FormatException, ValueError, KeyError, IndexError):
            return self.schedule


@dataclass(frozen=True)
class ConfigField:
    name: str
    type: str
    description: str
    default: str | None
    required: bool
    choices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PluginFacts:
    """Everything the detail page lists about one version, from its normalised manifest."""

    version: str
    description: str
    author: str
    homepage: str | None
    repo_url: str | None
    license: str | None
    permissions: list[PermissionInfo]
    events: list[EventInfo]
    routes: list[RouteInfo]
    routes_declared_in_code: bool
    route_prefix: str
    jobs: list[JobInfo]
    config_fields: list[ConfigField]
    allowed_domains: list[str]


def _describe(name: str) -> PermissionInfo:
    try:
        canonical = normalise_permission(name)
    except UnknownPermission:
        # Stored manifests were validated, but the catalogue may have shrunk since.
        return PermissionInfo(str(name), "A permission this version of Plugyard does not know.")
    return PermissionInfo(canonical, ALL_PERMISSIONS[canonical])


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _events(manifest: dict[str, Any], report: dict[str, Any]) -> list[EventInfo]:
    events: dict[tuple[str, str], EventInfo] = {}
    for hook in _dicts(manifest.get("hooks")) + _dicts(report.get("hooks")):
        if hook.get("event"):
            kind = "filter" if hook.get("kind") == "filter" else "action"
            priority = hook.get("priority") if isinstance(hook.get("priority"), int) else None
            events.setdefault((str(hook["event"]), kind), EventInfo(str(hook["event"]), kind, priority))
    for name in manifest.get("events") or []:
        if isinstance(name, str) and not any(key[0] == name for key in events):
            events[(name, "action")] = EventInfo(name)
    return list(events.values())


def _routes(manifest: dict[str, Any], report: dict[str, Any]) -> list[RouteInfo]:
    routes: dict[str, RouteInfo] = {}
    for route in _dicts(manifest.get("routes")) + _dicts(report.get("routes")):
        path = route.get("path")
        if isinstance(path, str) and path not in routes:
            methods = [str(m).upper() for m in route.get("methods") or ["GET"]]
            summary = route.get("summary")
            routes[path] = RouteInfo(methods, path if path.startswith("/") else f"/{path}",
                                     summary[:200] if isinstance(summary, str) else "")
    return list(routes.values())


def _jobs(manifest: dict[str, Any], report: dict[str, Any]) -> list[JobInfo]:
    jobs: dict[str, JobInfo] = {}
    for job in _dicts(manifest.get("jobs")) + _dicts(report.get("jobs")):
        if job.get("name") and str(job["name"]) not in jobs:
            jobs[str(job["name"])] = JobInfo(str(job["name"]), str(job.get("schedule") or "on demand"))
    return list(jobs.values())


def _type_label(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array" and isinstance(spec.get("items"), dict) and spec["items"].get("type"):
        return f"list of {spec['items']['type']}"
    return str(kind) if kind else "any"


def _config_fields(schema: Any) -> list[ConfigField]:
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    fields = []
    for name, spec in schema["properties"].items():
        spec = spec if isinstance(spec, dict) else {}
        default = json.dumps(spec["default"]) if "default" in spec else None
        choices = [json.dumps(c) for c in spec["enum"]] if isinstance(spec.get("enum"), list) else []
        description = str(spec.get("description") or spec.get("title") or "")
        fields.append(ConfigField(str(name), _type_label(spec), description, default, name in required, choices))
    return fields


def plugin_facts(version: PluginVersion) -> PluginFacts:
    """The detail page's view of a version; tolerant of manifests from older SDKs."""
    manifest = version.manifest if isinstance(version.manifest, dict) else {}
    report = version.load_report if isinstance(version.load_report, dict) else {}
    routes = _routes(manifest, report)
    return PluginFacts(
        version=version.version,
        description=str(manifest.get("description") or ""),
        author=str(manifest.get("author") or ""),
        homepage=manifest.get("homepage") or None,
        repo_url=manifest.get("repo_url") or None,
        license=manifest.get("license") or None,
        permissions=[_describe(name) for name in manifest.get("permissions") or []],
        events=_events(manifest, report),
        routes=routes,
        routes_declared_in_code=bool(manifest.get("routes_enabled")) and not routes,
        route_prefix=f"/ext/{version.plugin.slug}",
        jobs=_jobs(manifest, report),
        config_fields=_config_fields(version.config_schema),
        allowed_domains=[str(d) for d in manifest.get("allowed_domains") or []],
    )
