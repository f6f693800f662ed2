"""Raising catalog events from host resources, attributing them to the plugin that acted.

When the change was made by a plugin (a bridge call is in progress), the event carries
that installation as its source and one more level of depth than the invocation, so a
plugin that reacts to ``device.created`` by creating a device hits the emit-depth cap
instead of looping. A bridge that captures emits (test-event) keeps the event instead:
it is validated as usual, then reported, never stored or dispatched.
"""
from __future__ import annotations

from typing import Any

from plugins_core.events.emit import emit, validate_payload
from plugins_core.host.current import current_bridge

__all__ = ["emit_event"]


def emit_event(tenant, event_type: str, payload: dict[str, Any]) -> None:
    bridge = current_bridge()
    if bridge is None:
        emit(tenant, event_type, payload)
    elif bridge.captured is not None:
        validate_payload(event_type, payload)
        bridge.capture(event_type, payload, source="host")
    else:
        emit(tenant, event_type, payload, source_installation=bridge.installation, depth=bridge.depth + 1,
             root=bridge.root)
