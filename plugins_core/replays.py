"""An invocation's recorded input and outcome, redacted, for ``plugyard replay``.

Where the input lives depends on the call: a dispatched hook's payload is its event's, a
scheduled task's kwargs are its schedule's, and a route's request, a filter's value and a
test-event hook's payload are on the invocation (``Invocation.input``). Everything that
leaves goes through ``redaction.redact`` with the installation's secret values, the one
rule for what a replay may show.
"""
from __future__ import annotations

from typing import Any

from plugins_core import redaction, secrets
from plugins_core.models import Installation, Invocation

__all__ = ["replay_input"]


def _secret_values(installation: Installation) -> list[str]:
    values = []
    for secret in installation.secrets.all():
        try:
            value = secrets.read_secret(installation, secret.name)
        except RuntimeError:  # undecryptable: it cannot appear in a payload we could read either
            continue
        if value:
            values.append(value)
    return values


def _input(invocation: Invocation) -> tuple[Any, str]:
    """``(input, reason)``: the call's input, or None and why it cannot be replayed."""
    if invocation.event_id is not None:
        return {"payload": invocation.event.payload}, ""
    if invocation.kind in ("job", "task"):
        run = getattr(invocation, "job_run", None)  # the missing-row error is an AttributeError
        task = getattr(run, "scheduled_task", None)
        if invocation.kind == "job":
            return {"payload": None}, ""
        if task is not None:
            return {"payload": dict(task.kwargs)}, ""
    if invocation.input is not None:
        return {"payload": invocation.input.get("payload"), "request": invocation.input.get("request")}, ""
    return None, "this call's input was not recorded (too large, or recorded before inputs were)"


def replay_input(invocation: Invocation) -> dict[str, Any]:
    """The replay document: what ran, with what (redacted), and how it ended."""
    recorded, reason = _input(invocation)
    hidden = _secret_values(invocation.installation)
    handler = invocation.name
    name = invocation.event.type if invocation.event_id else (invocation.input or {}).get("name") or invocation.name
    return {
        "invocation": invocation.pk,
        "installation": invocation.installation_id,
        "plugin": invocation.installation.plugin.slug,
        "kind": invocation.kind,
        "name": name,
        "handler": handler,
        "event_type": invocation.event.type if invocation.event_id else (name if invocation.kind in ("hook", "filter") else None),
        "input": redaction.redact(recorded, hidden) if recorded is not None else None,
        "replayable": recorded is not None,
        "reason": reason,
        "outcome": {
            "status": invocation.status, "result": redaction.redact(invocation.result, hidden),
            "error": redaction.redact(invocation.error or None, hidden), "logs": redaction.redact(invocation.logs, hidden), "duration_ms": invocation.duration_ms,
        },
    }
