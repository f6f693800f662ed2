"""The demo domain's events and filter, registered with the host's event catalog at start.

They are the Ops-Center guide's device and alert events; the domain declares them itself,
through the public host API, as any product would declare its own.
"""
from __future__ import annotations

from typing import Any

from plugins_core.host_api import EventSpec, register_event

__all__ = ["EVENTS", "register"]

_ID = {"type": ["string", "integer"]}
_OBJECT = {"type": "object"}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


EVENTS = [
    EventSpec("device.created", "A device was created.", _obj(["device_id", "device_data"], device_id=_ID, device_data=_OBJECT)),
    EventSpec("device.updated", "A device was updated.", _obj(["device_id", "device_data"], device_id=_ID, device_data=_OBJECT)),
    EventSpec("device.deleted", "A device was deleted.", _obj(["device_id"], device_id=_ID, device_data=_OBJECT)),
    EventSpec("device.metrics_updated", "Metrics were received for a device.", _obj(["device_id", "metrics"], device_id=_ID, metrics=_OBJECT)),
    EventSpec("alert.created", "An alert was raised.", _obj(["alert_id", "alert_data"], alert_id=_ID, alert_data=_OBJECT)),
    EventSpec("alert.updated", "An alert changed.", _obj(["alert_id", "alert_data"], alert_id=_ID, alert_data=_OBJECT)),
    EventSpec("alert.resolved", "An alert was resolved.", _obj(["alert_id"], alert_id=_ID, alert_data=_OBJECT)),
    EventSpec("device.data.process", "Filter: device data on its way to storage; return the (changed) data.",
              _OBJECT, kind="filter"),
]


def register() -> None:
    for spec in EVENTS:
        register_event(spec)
