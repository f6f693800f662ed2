"""Raising events: ``emit(tenant, event_type, payload)`` is the one way host code does it.

The event is validated against its spec, stored in the caller's transaction, and its
fan-out is queued only after that transaction commits, so a rolled-back transaction emits
nothing. If the broker is unreachable at commit, the event stays in the outbox and the
``dispatch_pending_events`` sweep sends it later.
"""
from __future__ import annotations

import logging
from typing import Any

import jsonschema
from django.conf import settings

from plugins_core import queue
from plugins_core.events.catalog import get_event
from plugins_core.events.models import Event

__all__ = ["EventError", "check_plugin_emit", "emit", "emit_from_plugin", "validate_payload"]

log = logging.getLogger(__name__)

DISPATCH_TASK = "plugins_core.events.tasks.dispatch_event"


class EventError(ValueError):
    """An event that cannot be raised; ``field`` names what is wrong."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


def validate_payload(event_type: str, payload: Any) -> None:
    spec = get_event(event_type)
    if spec is None:
        raise EventError("event_type", "unknown_event", f"{event_type!r} is not in the event catalog.")
    if not isinstance(payload, dict):
        raise EventError("event_data", "invalid_type", "The event data must be a JSON object.")
    validator = jsonschema.Draft202012Validator(spec.payload_schema)
    error = next(iter(sorted(validator.iter_errors(payload), key=lambda e: list(e.path))), None)
    if error is not None:
        path = ".".join(str(part) for part in error.absolute_path)
        raise EventError(f"event_data.{path}" if path else "event_data", "invalid_payload", error.message)


def emit(tenant, event_type: str, payload: dict[str, Any], *, source_installation=None, depth: int = 0,
         root: int | None = None) -> Event:
    """Validate, store and (after commit) dispatch an event. Raises EventError on bad input.

    ``root`` is the event a chain of plugin actions began with (the host passes it when a
    plugin's ctx call caused this one); the chain's size is capped beside its depth."""
    validate_payload(event_type, payload)
    _check_fanout(event_type, root)
    event = Event.objects.create(
        tenant=tenant, type=event_type, payload=payload, depth=depth, source_installation=source_installation,
        root_id=root,
    )
    queue.after_commit(DISPATCH_TASK, event.pk)  # a broker that refuses it leaves it in the outbox
    return event


def emit_from_plugin(installation, event_type: str, data: dict[str, Any], depth: int,
                     root: int | None = None) -> dict[str, Any]:
    """``ctx.emit`` from plugin code: its own events, or catalog events it declared.

    A plugin may raise any event outside the catalog (``email.welcome_sent``). It may raise a
    catalog event only if its manifest declares it under ``emits``, so plugins cannot
    impersonate the product. Chains of plugin emits stop at PLUGYARD_MAX_EMIT_DEPTH levels
    and at PLUGYARD_MAX_EVENTS_PER_ROOT events from one originating event.
    """
    check_plugin_emit(installation, event_type, data, depth)
    _check_fanout(event_type, root)
    event = Event.objects.create(
        tenant=installation.tenant, type=event_type, payload=data, depth=depth + 1, source_installation=installation,
        root_id=root,
    )
    queue.after_commit(DISPATCH_TASK, event.pk)
    return {"event_id": event.pk, "event_type": event_type}


def check_plugin_emit(installation, event_type: str, data: Any, depth: int) -> None:
    """Raise EventError unless ``installation`` may raise this event (``emit_from_plugin``'s rules).

    test-event calls it for the emits it captures, so an emit refused for real is refused there too.
    """
    max_depth = getattr(settings, "PLUGYARD_MAX_EMIT_DEPTH", 5)
    if depth + 1 > max_depth:
        raise EventError("event_type", "emit_depth", f"event chain deeper than {max_depth}; {event_type!r} was not raised")
    declared = set(installation.version.manifest.get("emits") or [])
    if get_event(event_type) is not None and not is_declared(event_type, declared):
        raise EventError(
            "event_type", "reserved_event",
            f"{event_type!r} is a product event; declare it under 'emits' in the manifest to raise it.",
        )
    if not isinstance(data, dict):
        raise EventError("data", "invalid_type", "event data must be a JSON object")
    if get_event(event_type) is not None:
        validate_payload(event_type, data)


def _check_fanout(event_type: str, root: int | None) -> None:
    """One event may lead to at most PLUGYARD_MAX_EVENTS_PER_ROOT more, however wide the chain."""
    if root is None:
        return
    cap = settings.PLUGYARD_MAX_EVENTS_PER_ROOT
    if Event.objects.filter(root_id=root).count() >= cap:
        raise EventError("event_type", "emit_fanout",
                         f"the event that began this chain has led to {cap} events already; {event_type!r} was not raised")


def is_declared(event_type: str, declared: set[str]) -> bool:
    return event_type in declared or any(
        pattern.endswith(".*") and event_type.startswith(pattern[:-1]) for pattern in declared
    )
