"""The event catalog: every event the product raises, with its payload's JSON Schema.

Both guides' events are built in. A host product registers its own with
:func:`register_event` (or a whole namespace of free-form events with
:func:`register_namespace`) from its ``AppConfig.ready()``; see docs/host-integration.md.
An upload that subscribes to an event that is in neither is refused, so a typo in an event
name is an error at upload rather than a hook that silently never fires.
"""
from __future__ import annotations

from plugyard_sdk.events import BUILT_IN_EVENTS, Catalog, EventSpec

__all__ = [
    "EventSpec",
    "all_events",
    "current_catalog",
    "get_event",
    "is_known_event",
    "register_event",
    "register_namespace",
]

# The specs are data the SDK holds (`plugyard_sdk.events`), so `plugyard validate` checks
# against the same catalog offline; this module keeps the host's registry around them.
_BUILT_IN = BUILT_IN_EVENTS
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


def current_catalog() -> Catalog:
    """This host's catalog as the SDK's validator takes it: built-ins plus what was registered."""
    return Catalog.of(all_events(), _NAMESPACES)
