"""Devices and alerts as host resources: what ``ctx.db`` and ``plugin.api`` reach."""
from __future__ import annotations

from devices import services
from devices.models import Alert, Device
from plugins_core.host_api import Resource, register_resource

__all__ = ["register"]


def register() -> None:
    register_resource(Resource(
        name="devices",
        queryset_for_tenant=lambda tenant: Device.objects.for_tenant(tenant),
        to_dict=services.device_dict,
        read_permission="devices.read",
        write_permission="devices.write",
        writable_fields=frozenset(services.DEVICE_FIELDS),
        filterable_fields=["id", "name", "type", "status", "location", "ip_address"],
        create=services.create_device,
        update=services.update_device,
        delete=services.delete_device,
        description="The tenant's devices.",
    ), replace=True)
    register_resource(Resource(
        name="alerts",
        queryset_for_tenant=lambda tenant: Alert.objects.for_tenant(tenant),
        to_dict=services.alert_dict,
        read_permission="alerts.read",
        write_permission="alerts.write",
        writable_fields=frozenset(services.ALERT_FIELDS),
        filterable_fields=["id", "device_id", "severity", "status", "title", "source"],
        create=lambda tenant, data: services.create_alert(tenant, data),
        update=lambda alert, data: services.update_alert(alert, data),
        delete=services.delete_alert,
        actions={"acknowledge": services.acknowledge_alert, "resolve": services.resolve_alert},
        default_ordering="-pk",
        description="The tenant's alerts; acknowledge and resolve are actions.",
    ), replace=True)
