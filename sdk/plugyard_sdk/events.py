"""The event catalog's data: every event spec the checks need, without Django.

One source of truth for the CLI's ``validate`` and the server. `BUILT_IN_EVENTS` are the
events the host itself raises (both guides' platform events); `OPS_CENTER_EVENTS` are the
Ops-Center guide's device and alert events, which a product declares itself (Plugyard's
demo domain registers them, through the host API, at start). The server's catalog
(``plugins_core.events.catalog``) is the built-ins plus what its host registered;
offline, `guide_catalog` stands in for it: the built-ins plus the Ops-Center events, so a
plugin written as either guide shows validates unchanged. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["BUILT_IN_EVENTS", "OPS_CENTER_EVENTS", "Catalog", "EventSpec", "example_from_schema", "guide_catalog"]

Kind = Literal["action", "filter"]


@dataclass(frozen=True)
class EventSpec:
    """An event: its name, what it means, its payload's schema, its kind, and an example payload.

    Action events are dispatched asynchronously to every subscribed installation; their
    handlers' return values are recorded. Filter events run synchronously as a chain: each
    handler receives the value and returns the value the next one gets.

    ``example`` is what test-event sends when it is given no ``event_data`` and what
    ``GET /api/events/catalog`` shows; it must be valid against ``payload_schema`` (a test
    holds every registered event to that). A spec made without one gets the smallest
    payload its schema accepts (:func:`example_from_schema`).
    """

    name: str
    description: str
    payload_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    kind: Kind = "action"
    source: str = "plugyard"
    example: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.example is None:
            object.__setattr__(self, "example", example_from_schema(self.payload_schema))


#: A placeholder per JSON type, for the required properties of a schema given no example.
_PLACEHOLDERS: dict[str, Any] = {"string": "example", "integer": 1, "number": 1, "boolean": True, "array": [],
                                 "null": None}


def example_from_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The smallest object ``schema`` accepts: each required property with a placeholder of its type."""
    example: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        prop = properties.get(name) or {}
        kinds = prop.get("type")
        kind = kinds[0] if isinstance(kinds, list) and kinds else kinds
        example[name] = example_from_schema(prop) if kind == "object" else _PLACEHOLDERS.get(kind, "example")
    return example


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_ID = {"type": ["string", "integer"]}
_OBJECT = {"type": "object"}
_USER = _obj(["id", "email"], id=_ID, email={"type": "string"}, username={"type": "string"})
_A_USER = {"id": 7, "email": "new@example.com", "username": "new"}
_A_SUBSCRIPTION = {"id": "sub_123", "plan": "pro", "status": "active"}
_A_DEVICE = {"name": "edge-01", "type": "server", "status": "online"}
_AN_ALERT = {"device_id": 3, "severity": "warning", "title": "CPU high", "status": "open"}

BUILT_IN_EVENTS: tuple[EventSpec, ...] = (
    EventSpec("auth.user.created", "A user account was created in the tenant.", _obj(["user"], user=_USER), example={"user": _A_USER}),
    EventSpec("auth.user.updated", "A user account was updated.", _obj(["user"], user=_USER), example={"user": _A_USER}),
    EventSpec("auth.user.deleted", "A user account was deleted.", _obj(["user"], user=_USER), example={"user": _A_USER}),
    EventSpec("user.created", "A user joined the organization (Ops-Center spelling).", _obj(["user_id"], user_id=_ID, user_data=_OBJECT), example={"user_id": 7, "user_data": {"email": "new@example.com", "role": "member"}}),
    EventSpec("user.updated", "A user's membership or profile changed.", _obj(["user_id"], user_id=_ID, user_data=_OBJECT), example={"user_id": 7, "user_data": {"email": "new@example.com", "role": "admin"}}),
    EventSpec("organization.created", "A tenant (organization) was created.", _obj(["organization_id"], organization_id=_ID, organization_data=_OBJECT), example={"organization_id": "acme", "organization_data": {"name": "Acme"}}),
    EventSpec("payments.subscription.created", "A subscription was created.", _obj(["subscription"], subscription=_OBJECT), example={"subscription": _A_SUBSCRIPTION}),
    EventSpec("payments.subscription.updated", "A subscription changed.", _obj(["subscription"], subscription=_OBJECT), example={"subscription": {**_A_SUBSCRIPTION, "status": "past_due"}}),
    EventSpec("files.uploaded", "A file was uploaded to tenant storage.", _obj(["path"], path={"type": "string"}, size={"type": "integer"}, content_type={"type": "string"}), example={"path": "reports/daily.json", "size": 128, "content_type": "application/json"}),
    EventSpec("files.deleted", "A file was deleted from tenant storage.", _obj(["path"], path={"type": "string"}), example={"path": "reports/daily.json"}),
    EventSpec("builder.generated", "The builder generated a new build.", _obj([], build_id=_ID), example={"build_id": 41}),
    EventSpec("build.completed", "A build finished.", _obj(["build_id", "status"], build_id=_ID, status={"type": "string"}, project_name={"type": "string"}, created_at={"type": "string"}), example={"build_id": 42, "status": "success", "project_name": "api", "created_at": "2025-01-02T03:04:05Z"}),
    EventSpec("webhook.received", "An inbound webhook was received.", _obj(["source", "body"], source={"type": "string"}, headers=_OBJECT, body={}), example={"source": "github", "headers": {"content-type": "application/json"}, "body": {"action": "opened"}}),
    EventSpec("analytics.rollup.completed", "An analytics rollup finished.", _obj([], period={"type": "string"}, metrics=_OBJECT), example={"period": "2025-01-01", "metrics": {"active_users": 12}}),
)  # fmt: skip

OPS_CENTER_EVENTS: tuple[EventSpec, ...] = (
    EventSpec("device.created", "A device was created.", _obj(["device_id", "device_data"], device_id=_ID, device_data=_OBJECT), example={"device_id": 3, "device_data": _A_DEVICE}),
    EventSpec("device.updated", "A device was updated.", _obj(["device_id", "device_data"], device_id=_ID, device_data=_OBJECT), example={"device_id": 3, "device_data": {**_A_DEVICE, "status": "offline"}}),
    EventSpec("device.deleted", "A device was deleted.", _obj(["device_id"], device_id=_ID, device_data=_OBJECT), example={"device_id": 3, "device_data": _A_DEVICE}),
    EventSpec("device.metrics_updated", "Metrics were received for a device.", _obj(["device_id", "metrics"], device_id=_ID, metrics=_OBJECT), example={"device_id": 3, "metrics": {"cpu": 93.5, "memory": 61.2}}),
    EventSpec("alert.created", "An alert was raised.", _obj(["alert_id", "alert_data"], alert_id=_ID, alert_data=_OBJECT), example={"alert_id": 5, "alert_data": _AN_ALERT}),
    EventSpec("alert.updated", "An alert changed.", _obj(["alert_id", "alert_data"], alert_id=_ID, alert_data=_OBJECT), example={"alert_id": 5, "alert_data": {**_AN_ALERT, "severity": "critical"}}),
    EventSpec("alert.resolved", "An alert was resolved.", _obj(["alert_id"], alert_id=_ID, alert_data=_OBJECT), example={"alert_id": 5, "alert_data": {**_AN_ALERT, "status": "resolved"}}),
    EventSpec("device.data.process", "Filter: device data on its way to storage; return the (changed) data.",
              _OBJECT, kind="filter", example={"name": "edge-01", "type": "server", "metrics": {"cpu": 12.0}}),
)  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """A read-only view of a catalog: its event specs and its free-form namespaces."""

    events: tuple[EventSpec, ...] = ()
    namespaces: frozenset[str] = frozenset()

    @classmethod
    def of(cls, events: Iterable[EventSpec], namespaces: Iterable[str] = ()) -> Catalog:
        return cls(tuple(events), frozenset(p.rstrip(".") + "." for p in namespaces))

    def get(self, name: str) -> EventSpec | None:
        """The spec of ``name``; a generic one for an event of a registered namespace."""
        spec = next((s for s in self.events if s.name == name), None)
        if spec is None and self.is_known(name):
            return EventSpec(name, "A custom event.", source="namespace")
        return spec

    def is_known(self, name: str) -> bool:
        return any(s.name == name for s in self.events) or any(name.startswith(p) for p in self.namespaces)

    def filters(self) -> list[str]:
        return sorted(s.name for s in self.events if s.kind == "filter")


def guide_catalog() -> Catalog:
    """The catalog ``plugyard validate`` checks against offline (see the module docstring)."""
    return Catalog.of((*BUILT_IN_EVENTS, *OPS_CENTER_EVENTS))
