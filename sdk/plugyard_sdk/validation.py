"""Host rules for a package: its manifest and webhook files against an event catalog, then
what its code registered (its load report) against the manifest.

This is the one validator `plugyard validate` and the server's upload both call
(`validate`), so offline and online give the same problems and warnings, with the same
codes and field paths. Shape, archive and static scan are `read_package`'s job; these are
the second layer: rules that need the catalog or the loaded code. What cannot work is a
problem (the upload is refused, with every problem of both checks in one answer); what
merely looks odd is a warning. Every finding names file, line or field. The server passes
its own catalog and a load report from the sandbox; the CLI passes `guide_catalog()` and a
report from loading the code locally (`plugyard_sdk.inspect`). Route paths are parsed with
the one route grammar (`routing`). Standard library only (plus the SDK's manifest reader).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from . import routing
from ._documents import load_yaml
from .events import Catalog, guide_catalog
from .package import PackageLimits, PluginPackage, read_package
from .problems import PackageInvalid, Problem, ProblemCode
from .webhooks import EMIT_WEBHOOK

__all__ = [
    "Code", "Findings", "check_load_report", "check_package", "subscriptions_from", "validate",
    "validate_archive",
]  # fmt: skip


class Code(StrEnum):
    """The codes of the host's upload rules (the SDK's are `ProblemCode`). Values are stable."""

    UNKNOWN_EVENT = "unknown_event"
    UNKNOWN_FILTER = "unknown_filter"
    NOT_AN_ACTION = "not_an_action"  # an action hook on a filter event: it would never fire
    MISSING_PERMISSION = "missing_permission"
    LOAD_ERROR = "load_error"
    INVALID_ROUTE = ProblemCode.INVALID_ROUTE.value
    MISSING_HANDLER = "missing_handler"
    ROUTES_DISABLED = "routes_disabled"
    # warnings
    UNHANDLED_EVENT = "unhandled_event"
    UNDECLARED_EVENT = "undeclared_event"
    UNDECLARED_JOB = "undeclared_job"


@dataclass
class Findings:
    """What the rules found: problems refuse the package, warnings are shown with it."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _where(error: dict[str, Any]) -> str:
    if error.get("file"):
        return f"{error['file']}:{error['line']}" if error.get("line") else str(error["file"])
    return "entry"


def _event_problem(catalog: Catalog, where: str, event: str, kind: str) -> Problem | None:
    """Why a handler of ``kind`` on ``event`` can never run, or None when it can."""
    spec = catalog.get(event)
    if kind == "filter":
        if spec is None or spec.kind != "filter":
            filters = ", ".join(catalog.filters()) or "none"
            return Problem(where, Code.UNKNOWN_FILTER, f"{event!r} is not a filter this product runs; its filters are: {filters}.")
        return None
    if spec is None:
        return Problem(where, Code.UNKNOWN_EVENT, f"{event!r} is not an event this product raises; see docs/plugin-authors.md#events.")
    if spec.kind == "filter":
        return Problem(where, Code.NOT_AN_ACTION, f"{event!r} is a filter, not an action event: subscribe to it as a filter (filters: or @plugin.filter_hook).")
    return None


def _written_hooks(package: PluginPackage) -> int | None:
    """How many of the manifest's hooks were written under ``hooks:``; the rest came from
    ``filters:`` (the manifest lists them after), so a problem names the field written."""
    name = "plugin.json" if package.manifest.source_format == "sbh" else "plugin.yaml"
    try:
        text = package.files[name].decode("utf-8-sig")
        data = json.loads(text) if name.endswith(".json") else load_yaml(name, text)
        hooks = data.get("hooks") or []
        return len(hooks) if isinstance(hooks, list) else None
    except Exception:  # the SDK read this file already; on any surprise, name the merged list
        return None


def check_package(package: PluginPackage, catalog: Catalog) -> list[Problem]:
    """Manifest and webhook files against the catalog and the permissions asked for.

    Every subscription must be able to fire: events and hooks in the catalog, filters on
    filter events, each webhook file's ``on`` events too; webhook files need ``emit_webhook``.
    """
    manifest = package.manifest
    problems: list[Problem] = []
    for index, name in enumerate(manifest.events):
        found = _event_problem(catalog, f"events[{index}]", name, "action")
        if found:
            problems.append(found)
    written = _written_hooks(package)
    for index, hook in enumerate(manifest.hooks):
        where = f"hooks[{index}].event" if written is None or index < written else f"filters[{index - written}].event"
        found = _event_problem(catalog, where, hook.event, hook.kind)
        if found:
            problems.append(found)
    for spec in package.webhooks:
        if EMIT_WEBHOOK not in manifest.permissions:
            problems.append(Problem(spec.path, Code.MISSING_PERMISSION, f"a webhook file needs the {EMIT_WEBHOOK!r} permission; add it to the manifest's permissions."))
        for index, name in enumerate(spec.on):
            if not catalog.is_known(name):
                problems.append(Problem(f"{spec.path}: on[{index}]", Code.UNKNOWN_EVENT, f"{name!r} is not an event this product raises, so this webhook would never be sent."))
    return problems


def _route_problems(code_routes: list[Any]) -> list[Problem]:
    """The code's routes parsed with the one grammar (a decorator refuses a bad path at load;
    this catches a route marked by hand). Named by handler: the report has no line."""
    problems: list[Problem] = []
    for route in code_routes:
        if not isinstance(route, dict):
            continue
        where = str(route.get("handler") or "routes")
        try:
            routing.parse(route.get("path"))
            routing.parse_methods(route.get("methods"), where=f"route {route.get('path')!r}")
        except routing.RouteError as exc:
            problems.append(Problem(where, Code.INVALID_ROUTE, str(exc)))
    return problems


def check_load_report(manifest: Mapping[str, Any], report: Mapping[str, Any], catalog: Catalog) -> Findings:
    """What the code registered (``report``, as the sandbox's or `inspect`'s) against the
    manifest (as ``Manifest.model_dump(mode="json")``): handlers exist, events can fire."""
    findings = Findings()
    problems, warnings = findings.problems, findings.warnings
    for error in report.get("errors") or []:
        kind, message = str(error.get("type") or "Error"), str(error.get("message"))
        # A bad @route path raises routing.RouteError at the decorator: name it as a route.
        code = Code.INVALID_ROUTE if kind == "RouteError" else Code.LOAD_ERROR
        if not message.startswith(f"{kind}: "):  # the jail's messages carry their type already
            message = f"{kind}: {message}"
        problems.append(Problem(_where(error), code, f"loading the plugin failed: {message}"))
    if problems:
        return findings  # nothing else can be judged about code that does not load

    functions = set(report.get("functions") or [])
    code_hooks = report.get("hooks") or []
    code_handlers = {hook["handler"] for hook in code_hooks} | functions
    code_routes = report.get("routes") or []
    code_jobs = {job["name"]: job for job in report.get("jobs") or []}

    problems += _route_problems(code_routes)
    for index, hook in enumerate(manifest.get("hooks") or []):
        if hook.get("handler") and hook["handler"] not in code_handlers:
            problems.append(Problem(f"hooks[{index}].handler", Code.MISSING_HANDLER, f"the code has no function {hook['handler']!r} for {hook['event']!r}."))
    for index, route in enumerate(manifest.get("routes") or []):
        if route.get("handler") and route["handler"] not in code_handlers | {r["handler"] for r in code_routes}:
            problems.append(Problem(f"routes[{index}].handler", Code.MISSING_HANDLER, f"the code has no function {route['handler']!r} for {route['path']}."))
    for index, job in enumerate(manifest.get("jobs") or []):
        if job["name"] not in code_jobs and (job.get("handler") or job["name"]) not in functions:
            problems.append(Problem(f"jobs[{index}].name", Code.MISSING_HANDLER, f"the code has no @job({job['name']!r}) or function for this job."))
    if code_routes and not manifest.get("routes_enabled", bool(manifest.get("routes"))):
        problems.append(Problem("routes", Code.ROUTES_DISABLED, f"the code defines {len(code_routes)} route(s) with @route but the manifest says routes: false."))

    declared = set(manifest.get("events") or []) | {hook["event"] for hook in manifest.get("hooks") or []}
    handled = {hook["event"] for hook in code_hooks if hook.get("kind", "action") == "action"}
    handled |= {hook["event"] for hook in manifest.get("hooks") or [] if hook.get("handler") in code_handlers}
    for name in sorted(declared - handled):
        warnings.append(Problem("events", Code.UNHANDLED_EVENT, f"{name!r} is declared but no handler subscribes to it."))
    for hook in code_hooks:
        kind = hook.get("kind") or "action"
        found = _event_problem(catalog, hook["handler"], hook["event"], kind)
        if found:
            problems.append(found)
        elif kind == "action" and hook["event"] not in declared:
            warnings.append(Problem(hook["handler"], Code.UNDECLARED_EVENT, f"{hook['handler']} handles {hook['event']!r}, which the manifest does not declare: it will not fire."))
    for name in sorted(set(code_jobs) - {job["name"] for job in manifest.get("jobs") or []}):
        if manifest.get("source_format") == "sbh":
            warnings.append(Problem(code_jobs[name].get("handler") or name, Code.UNDECLARED_JOB, f"@job({name!r}) is not in the manifest's jobs; it is scheduled from the code's schedule."))
    return findings


def subscriptions_from(manifest: Mapping[str, Any], report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The (event, handler, kind, priority) rows dispatch will use for this version.

    Action hooks fire only for declared events; filters are registered by the code.
    Manifest-only handlers (Ops-Center ``hooks:`` naming a plain function) count too.
    """
    declared = set(manifest.get("events") or []) | {hook["event"] for hook in manifest.get("hooks") or []}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for hook in report.get("hooks") or []:
        kind = hook.get("kind") or "action"
        if kind == "action" and hook["event"] not in declared:
            continue
        rows[(hook["event"], hook["handler"])] = {
            "event": hook["event"], "handler": hook["handler"], "kind": kind, "priority": int(hook.get("priority") or 10),
        }
    functions = set(report.get("functions") or [])
    for hook in manifest.get("hooks") or []:
        key = (hook["event"], hook.get("handler") or "")
        if key not in rows and hook.get("handler") in functions:
            rows[key] = {"event": hook["event"], "handler": hook["handler"], "kind": hook.get("kind") or "action",
                         "priority": int(hook.get("priority") or 10)}
    return list(rows.values())


def validate(package: PluginPackage, report: Mapping[str, Any], catalog: Catalog) -> Findings:
    """Every rule on a package `read_package` accepted, given what its code registered.

    Problems: the manifest's and webhook files' against ``catalog``, then the load
    report's. Warnings: `read_package`'s (static scan, ignored files), then the report's.
    """
    manifest = package.manifest.model_dump(mode="json")
    loaded = check_load_report(manifest, report, catalog)
    return Findings([*check_package(package, catalog), *loaded.problems], [*package.warnings, *loaded.warnings])


def validate_archive(
    data: bytes, filename: str, *, catalog: Catalog | None = None, limits: PackageLimits | None = None
) -> tuple[PluginPackage | None, Findings]:
    """What ``plugyard validate`` answers for an archive: `read_package`, then the code loaded
    locally (`inspect_local.load_report`), then `validate` against ``catalog`` (by default
    `guide_catalog`). ``(None, findings)`` when `read_package` refused it already.
    """
    from .inspect_local import load_report  # here, not at the top: the server never loads locally

    try:
        package = read_package(data, filename, limits or PackageLimits())
    except PackageInvalid as exc:
        return None, Findings(list(exc.problems))
    report = load_report(package.files, package.manifest.entry)
    return package, validate(package, report, catalog or guide_catalog())
