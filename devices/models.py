"""The demo product domain (the Ops-Center guide's world): devices and the alerts they raise."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwned

__all__ = ["Alert", "AlertSeverity", "AlertStatus", "Device", "DeviceStatus"]


class DeviceStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    MAINTENANCE = "maintenance", "Maintenance"
    UNKNOWN = "unknown", "Unknown"


class Device(TenantOwned):
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=50, default="server", help_text="server, router, sensor, …")
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.UNKNOWN)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    location = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"


class AlertStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(TenantOwned):
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices, default=AlertSeverity.INFO)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.ACTIVE)
    source = models.CharField(max_length=100, blank=True, help_text="'api', or the plugin that raised it.")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"
