"""Every change to devices and alerts, from the REST API and from plugins alike; each emits its event.

Callers pass a dict of already-permitted fields; the model's own validation runs here and
raises ``django.core.exceptions.ValidationError`` naming the field. A change and its event
are written in one transaction (the event system stores them together and dispatches after
commit). The ``device.data.process`` filters run before it opens: a filter is plugin code,
and waiting for it while holding the database's write lock (SQLite) would stall every
other writer, the plugin's own lifecycle hooks included, until its deadline.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from devices.models import Alert, AlertStatus, Device
from plugins_core.host_api import acting_plugin, apply_filters, emit_event

__all__ = [
    "acknowledge_alert",
    "alert_dict",
    "create_alert",
    "create_device",
    "delete_alert",
    "delete_device",
    "device_dict",
    "resolve_alert",
    "update_alert",
    "update_device",
]

log = logging.getLogger(__name__)

DEVICE_FIELDS = ("name", "type", "status", "ip_address", "location", "metadata")
ALERT_FIELDS = ("device_id", "severity", "title", "message", "status")


def device_dict(device: Device) -> dict[str, Any]:
    return {
        "id": device.pk, "name": device.name, "type": device.type, "status": device.status,
        "ip_address": device.ip_address, "location": device.location, "metadata": device.metadata,
        "last_seen_at": device.last_seen_at, "created_at": device.created_at, "updated_at": device.updated_at,
    }


def alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk, "device_id": alert.device_id, "severity": alert.severity, "title": alert.title,
        "message": alert.message, "status": alert.status, "source": alert.source,
        "acknowledged_at": alert.acknowledged_at, "resolved_at": alert.resolved_at,
        "created_at": alert.created_at, "updated_at": alert.updated_at,
    }


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(row, cls=DjangoJSONEncoder))


def _assign(obj: Any, data: dict[str, Any], fields: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValidationError({key: ["This field cannot be set."] for key in unknown})
    for key, value in data.items():
        setattr(obj, key, value)


def _clean(obj: Any) -> None:
    if isinstance(obj, Device) and not isinstance(obj.metadata, dict):
        raise ValidationError({"metadata": ["Must be an object."]})
    obj.full_clean(exclude=["tenant"])


def _source() -> str:
    plugin = acting_plugin()
    return f"plugin:{plugin}" if plugin is not None else "api"


# --- devices ---------------------------------------------------------------------------------


def _process(tenant, data: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """Run the ``device.data.process`` filter chain over data from the product's own API.

    Keys the filters add that are not device fields are kept in ``metadata``. Writes made by
    a plugin skip the chain: running filters (plugin code) synchronously inside another
    plugin's host call could wait on the very worker that is waiting for us.
    """
    if acting_plugin() is not None:
        return data
    processed = apply_filters(tenant, "device.data.process", dict(data))
    if not isinstance(processed, dict):
        return data
    known = {k: v for k, v in processed.items() if k in DEVICE_FIELDS}
    extra = {k: v for k, v in processed.items() if k not in DEVICE_FIELDS}
    if extra:
        base = known.get("metadata") if isinstance(known.get("metadata"), dict) else metadata
        known["metadata"] = {**base, **extra}
    return known


def create_device(tenant, data: dict[str, Any]) -> Device:
    processed = _process(tenant, data, {})
    with transaction.atomic():
        device = Device(tenant=tenant)
        _assign(device, processed, DEVICE_FIELDS)
        _clean(device)
        device.save()
        emit_event(tenant, "device.created", {"device_id": device.pk, "device_data": _payload(device_dict(device))})
    return device


def update_device(device: Device, data: dict[str, Any]) -> Device:
    processed = _process(device.tenant, data, dict(device.metadata or {}))
    with transaction.atomic():
        _assign(device, processed, DEVICE_FIELDS)
        _clean(device)
        device.save()
        emit_event(device.tenant, "device.updated", {"device_id": device.pk, "device_data": _payload(device_dict(device))})
    return device


def delete_device(device: Device) -> None:
    payload = {"device_id": device.pk, "device_data": _payload(device_dict(device))}
    tenant = device.tenant
    with transaction.atomic():
        device.delete()
        emit_event(tenant, "device.deleted", payload)


# --- alerts ----------------------------------------------------------------------------------


def _resolve_device(alert: Alert, data: dict[str, Any]) -> dict[str, Any]:
    """Turn ``device_id`` into one of the *alert's tenant's* devices, or a field error."""
    if "device_id" not in data:
        return data
    data = dict(data)
    device_id = data.pop("device_id")
    if device_id in (None, ""):
        alert.device = None
        return data
    device = None
    if isinstance(device_id, int | str) and not isinstance(device_id, bool):
        try:
            device = Device.objects.for_tenant(alert.tenant).filter(pk=device_id).first()
        except (ValueError, TypeError, ValidationError):
            device = None
    if device is None:
        raise ValidationError({"device_id": [f"No device {device_id!r} in this tenant."]})
    alert.device = device
    return data


def _alert_event(alert: Alert, previous_status: str | None) -> None:
    payload = {"alert_id": alert.pk, "alert_data": _payload(alert_dict(alert))}
    if previous_status is None:
        emit_event(alert.tenant, "alert.created", payload)
    elif alert.status == AlertStatus.RESOLVED and previous_status != AlertStatus.RESOLVED:
        emit_event(alert.tenant, "alert.resolved", payload)
    else:
        emit_event(alert.tenant, "alert.updated", payload)


def _stamp(alert: Alert, user=None) -> None:
    now = timezone.now()
    if alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, user
    if alert.status == AlertStatus.RESOLVED and alert.resolved_at is None:
        alert.resolved_at = now
    if alert.status == AlertStatus.ACTIVE:
        alert.resolved_at = None


@transaction.atomic
def create_alert(tenant, data: dict[str, Any], *, user=None) -> Alert:
    alert = Alert(tenant=tenant, source=_source())
    _assign(alert, _resolve_device(alert, data), ALERT_FIELDS)
    _stamp(alert, user)
    _clean(alert)
    alert.save()
    _alert_event(alert, None)
    return alert


@transaction.atomic
def update_alert(alert: Alert, data: dict[str, Any], *, user=None) -> Alert:
    previous = alert.status
    _assign(alert, _resolve_device(alert, data), ALERT_FIELDS)
    _stamp(alert, user)
    _clean(alert)
    alert.save()
    _alert_event(alert, previous)
    return alert


def acknowledge_alert(alert: Alert, data: dict[str, Any] | None = None, *, user=None) -> Alert:
    if alert.status == AlertStatus.RESOLVED:
        raise ValidationError({"status": ["A resolved alert cannot be acknowledged."]})
    return update_alert(alert, {"status": AlertStatus.ACKNOWLEDGED}, user=user)


def resolve_alert(alert: Alert, data: dict[str, Any] | None = None, *, user=None) -> Alert:
    return update_alert(alert, {"status": AlertStatus.RESOLVED}, user=user)


def delete_alert(alert: Alert) -> None:
    alert.delete()
