"""One log line per finished invocation and per webhook attempt, for log pipelines.

The line carries who and what (tenant, installation, plugin, version, kind, name), the
outcome (status, duration, attempt) and nothing a plugin wrote: no payload, result, log
line or error text, so no secret can reach the log through it. With ``LOG_FORMAT=json``
(config/logformat.py) each line is one JSON object with these fields at the top level;
the activity API (``GET /api/invocations``) has the details.

The logger is ``plugyard.activity``; settings keep it at INFO for JSON and at WARNING for
the plain console format, so a developer's terminal is not one line per hook.
"""
from __future__ import annotations

import logging
from typing import Any

__all__ = ["delivery", "invocation"]

log = logging.getLogger("plugyard.activity")


def _cached(obj: Any, relation: str) -> Any:
    """A related object already loaded on ``obj``, or None: a log line never costs a query."""
    return obj._state.fields_cache.get(relation) if obj is not None else None


def _who(installation_id: int | None, tenant_id: int | None, installation: Any) -> dict[str, Any]:
    plugin, version = _cached(installation, "plugin"), _cached(installation, "version")
    return {
        "tenant_id": tenant_id,
        "installation_id": installation_id,
        "plugin": plugin.slug if plugin is not None else None,
        "plugin_id": getattr(installation, "plugin_id", None),
        "version": version.version if version is not None else None,
    }


def invocation(record: Any) -> None:
    """Log a finished :class:`~plugins_core.models.Invocation`."""
    if not log.isEnabledFor(logging.INFO):
        return
    fields = {
        "activity": "invocation",
        **_who(record.installation_id, record.tenant_id, _cached(record, "installation")),
        "invocation_id": record.pk,
        "event_id": record.event_id,
        "kind": record.kind,
        "name": record.name,
        "status": record.status,
        "duration_ms": record.duration_ms,
        "attempt": record.attempts,
    }
    log.info("invocation %s %s %s: %s", record.pk, record.kind, record.name, record.status, extra={"fields": fields})


def delivery(record: Any, attempt: Any) -> None:
    """Log one attempt at a :class:`~plugins_core.webhooks.models.WebhookDelivery`."""
    if not log.isEnabledFor(logging.INFO):
        return
    fields = {
        "activity": "webhook_delivery",
        **_who(record.installation_id, record.tenant_id, _cached(record, "installation")),
        "delivery_id": record.pk,
        "event_id": record.event_id,
        "kind": "webhook",
        "name": record.webhook,
        "status": record.status,
        "duration_ms": attempt.duration_ms,
        "attempt": attempt.number,
        "http_status": attempt.status_code,
    }
    log.info("webhook delivery %s %s attempt %s: %s", record.pk, record.webhook, attempt.number, record.status,
             extra={"fields": fields})
