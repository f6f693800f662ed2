"""The event catalog: every event the product raises, with its payload's JSON Schema.

Both guides' events are built in. A host product registers its own with
:func:`register_event` (or a whole namespace of free-form events with
:func:`register_namespace`) from its ``AppConfig.ready()``; see docs/host-integration.md.
An upload that subscribes to an event that is in neither is refused, so a typo in an event
name is an error at upload rather than a hook that silently never fires.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "EventSpec",
    "all_events",
    "get_event",
    "is_known_event",
    "register_event",
    "register_namespace",
]

Kind = Literal["action", "filter"]


@dataclass(frozen=True)
class EventSpec:
    """An event: its name, what it means, its payload's schema, and its kind.

    Action events are dispatched asynchronously to every subscribed installation; their
    handlers' return values are recorded. Filter events run synchronously as a chain: each
    handler receives the value and returns the value the next one gets.
    """

    name: str
    description: str
    payload_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    kind: Kind = "action"
    source: str = "plugyard"


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_ID = {"type": ["string", "integer"]}
_USER = _obj(["id", "email"], id=_ID, email={"type": "string"}, username={"type": "string"})

_BUILT_IN = [
    EventSpec("auth.user.created", "A user account was created in the tenant.", _obj(["user"], user=_USER)),
    EventSpec("auth.user.updated", "A user account was updated.", _obj(["user"], user=_USER)),
    EventSpec("auth.user.deleted", "A user account was deleted.", _obj(["user"], user=_USER)),
    EventSpec("user.created", "A user joined the organization (Ops-Center spelling).", _obj(["user_id"], user_id=_ID, user_data={"type": "object"})),
    EventSpec("user.updated", "A user's membership or profile changed.", _obj(["user_id"], user_id=_ID, user_data={"type": "object"})),
    EventSpec("organization.created", "A tenant (organization) was created.", _obj(["organization_id"], organization_id=_ID, organization_data={"type": "object"})),
    EventSpec("payments.subscription.created", "A subscription was created.", _obj(["subscription"], subscription={"type": "object"})),
    EventSpec("payments.subscription.updated", "A subscription changed.", _obj(["subscription"], subscription={"type": "object"})),
    EventSpec("files.uploaded", "A file was uploaded to tenant storage.", _obj(["path"], path={"type": "string"}, size={"type": "integer"}, content_type={"type": "string"})),
    EventSpec("files.deleted", "A file was deleted from tenant storage.", _obj(["path"], path={"type": "string"})),
    EventSpec("builder.generated", "The builder generated a new build.", _obj([], build_id=_ID)),
    EventSpec("build.completed", "A build finished.", _obj(["build_id", "status"], build_id=_ID, status={"type": "string"}, project_name={"type": "string"}, created_at={"type": "string"})),
    EventSpec("webhook.received", "An inbound webhook was received.", _obj(["source", "body"], source={"type": "string"}, headers={"type": "object"}, body={})),
    EventSpec("analytics.rollup.completed", "An analytics rollup finished.", _obj([], period={"type": "string"}, metrics={"type": "object"})),
]

_EVENTS: dict[str, EventSpec] = {spec.name: spec for spec in _BUILT_IN}
_NAMESPACES: set[str] = set()


def register_event(spec: EventSpec) -> None:
    """Add a host event. Registering the same name twice with a different spec is an error."""
    existing = _EVENTS.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"event {spec.name!r} is registered already with another spec")
    _EVENTS[spec.name] = spec


def register_namespace(prefix: str) -> None:
    """Allow free-form events under ``prefix.`` (payloads are any JSON object)."""
    _NAMESPACES.add(prefix.rstrip(".") + ".")


def get_event(name: str) -> EventSpec | None:
    spec = _EVENTS.get(name)
    if spec is None and is_known_event(name):
        return EventSpec(name, "A custom event.", source="namespace")
    return spec


def is_known_event(name: str) -> bool:
    return name in _EVENTS or any(name.startswith(prefix) for prefix in _NAMESPACES)


def all_events() -> list[EventSpec]:
    return sorted(_EVENTS.values(), key=lambda spec: spec.name)
