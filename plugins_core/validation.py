"""Checking what a plugin's code registered (its load report) against its manifest.

Shape is the SDK's job; this is the second layer: business rules that need the code
loaded in the sandbox. What cannot work is a problem (the upload is refused); what merely
looks odd is a warning in the upload's answer. Every finding names file, line or field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plugyard_sdk.problems import Problem

from plugins_core.events.catalog import get_event, is_known_event

__all__ = ["Findings", "check_events", "check_load_report", "subscriptions_from"]


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _where(error: dict[str, Any]) -> str:
    if error.get("file"):
        return f"{error['file']}:{error['line']}" if error.get("line") else str(error["file"])
    return "entry"


def check_events(manifest: dict[str, Any]) -> list[Problem]:
    """Subscribing to an event outside the catalog is refused: it would never fire."""
    problems = []
    for index, name in enumerate(manifest.get("events") or []):
        if not is_known_event(name):
            problems.append(Problem(f"events[{index}]", "unknown_event", f"{name!r} is not an event this product raises; see docs/plugin-authors.md#events."))
    for index, hook in enumerate(manifest.get("hooks") or []):
        if not is_known_event(hook["event"]):
            problems.append(Problem(f"hooks[{index}].event", "unknown_event", f"{hook['event']!r} is not an event this product raises."))
    return problems


def check_load_report(manifest: dict[str, Any], report: dict[str, Any]) -> Findings:
    findings = Findings()
    problems, warnings = findings.problems, findings.warnings
    for error in report.get("errors") or []:
        problems.append(Problem(_where(error), "load_error", f"loading the plugin failed: {error.get('type') or 'Error'}: {error.get('message')}"))
    if problems:
        return findings  # nothing else can be judged about code that does not load

    functions = set(report.get("functions") or [])
    code_hooks = report.get("hooks") or []
    code_handlers = {hook["handler"] for hook in code_hooks} | functions
    code_routes = report.get("routes") or []
    code_jobs = {job["name"]: job for job in report.get("jobs") or []}

    for index, hook in enumerate(manifest.get("hooks") or []):
        if hook.get("handler") and hook["handler"] not in code_handlers:
            problems.append(Problem(f"hooks[{index}].handler", "missing_handler", f"the code has no function {hook['handler']!r} for {hook['event']!r}."))
    for index, route in enumerate(manifest.get("routes") or []):
        if route.get("handler") and route["handler"] not in code_handlers | {r["handler"] for r in code_routes}:
            problems.append(Problem(f"routes[{index}].handler", "missing_handler", f"the code has no function {route['handler']!r} for {route['path']}."))
    for index, job in enumerate(manifest.get("jobs") or []):
        if job["name"] not in code_jobs and (job.get("handler") or job["name"]) not in functions:
            problems.append(Problem(f"jobs[{index}].name", "missing_handler", f"the code has no @job({job['name']!r}) or function for this job."))
    if code_routes and not manifest.get("routes_enabled", bool(manifest.get("routes"))):
        problems.append(Problem("routes", "routes_disabled", f"the code defines {len(code_routes)} route(s) with @route but the manifest says routes: false."))

    declared = set(manifest.get("events") or []) | {hook["event"] for hook in manifest.get("hooks") or []}
    handled = {hook["event"] for hook in code_hooks if hook.get("kind", "action") == "action"}
    handled |= {hook["event"] for hook in manifest.get("hooks") or [] if hook.get("handler") in code_handlers}
    for name in sorted(declared - handled):
        warnings.append(Problem("events", "unhandled_event", f"{name!r} is declared but no handler subscribes to it."))
    for hook in code_hooks:
        if hook.get("kind", "action") == "action" and hook["event"] not in declared:
            warnings.append(Problem(hook["handler"], "undeclared_event", f"{hook['handler']} handles {hook['event']!r}, which the manifest does not declare: it will not fire."))
        if hook.get("kind") == "filter" and get_event(hook["event"]) is None:
            problems.append(Problem(hook["handler"], "unknown_event", f"{hook['event']!r} is not a filter this product runs."))
    for name in sorted(set(code_jobs) - {job["name"] for job in manifest.get("jobs") or []}):
        if manifest.get("source_format") == "sbh":
            warnings.append(Problem(code_jobs[name].get("handler") or name, "undeclared_job", f"@job({name!r}) is not in the manifest's jobs; it is scheduled from the code's schedule."))
    return findings


def subscriptions_from(manifest: dict[str, Any], report: dict[str, Any]) -> list[dict[str, Any]]:
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
