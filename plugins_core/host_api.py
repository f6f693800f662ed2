"""The API a host product's own apps use to work with plugins (see docs/host-integration.md).

One import for what a product domain needs: declare its events and filters, expose its
data as resources, raise events, run a filter chain over its data, and know whether a
plugin's ctx call is what is running it. ``devices`` (the demo domain) uses nothing else.
"""
from __future__ import annotations

from typing import Any

from plugins_core.events.catalog import EventSpec, register_event, register_namespace
from plugins_core.events.dispatch import send_chained
from plugins_core.events.emit import EventError
from plugins_core.host.current import current_bridge
from plugins_core.host.events import emit_event
from plugins_core.host.resources import Resource, register_resource

__all__ = [
    "EventError", "EventSpec", "Resource", "acting_plugin", "apply_filters", "current_bridge", "emit_event",
    "register_event", "register_namespace", "register_resource",
]


def apply_filters(tenant, name: str, value: Any) -> Any:
    """Run the filter chain ``name`` over ``value`` (each plugin's filter, in order)."""
    return send_chained(tenant, name, value)


def acting_plugin() -> str | None:
    """The slug of the plugin whose ctx call is running this code, or None (a person, the API)."""
    bridge = current_bridge()
    return bridge.installation.plugin.slug if bridge is not None else None
