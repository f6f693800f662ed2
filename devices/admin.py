from django.contrib import admin

from devices.models import Alert, Device


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "type", "status", "ip_address", "updated_at"]
    list_filter = ["status", "type", "tenant"]
    search_fields = ["name", "location"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["title", "tenant", "device", "severity", "status", "source", "created_at"]
    list_filter = ["severity", "status", "tenant"]
    search_fields = ["title", "message"]
    raw_id_fields = ["device", "acknowledged_by"]
