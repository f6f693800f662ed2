"""API representations of devices and alerts."""
from __future__ import annotations

from rest_framework import serializers

from devices.models import Alert, Device

__all__ = ["AlertSerializer", "DeviceSerializer"]


class DeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["id", "name", "type", "status", "ip_address", "location", "metadata", "last_seen_at",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "last_seen_at", "created_at", "updated_at"]


class AlertSerializer(serializers.ModelSerializer):
    # A plain id: the service checks it names one of the request tenant's devices.
    device_id = serializers.IntegerField(required=False, allow_null=True)

    class Meta:
        model = Alert
        fields = ["id", "device_id", "severity", "title", "message", "status", "source", "acknowledged_at",
                  "resolved_at", "created_at", "updated_at"]
        read_only_fields = ["id", "source", "acknowledged_at", "resolved_at", "created_at", "updated_at"]
