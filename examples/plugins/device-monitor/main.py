from datetime import datetime
from typing import Any

from ops_center_sdk import Plugin

# Create plugin instance
plugin = Plugin(
    id="device-monitor",
    name="Device Monitor",
    version="1.0.0",
    description="My awesome plugin",
    author="Your Name",
    category="monitoring"
)


# ==================== Lifecycle Hooks ====================

@plugin.on_install
async def on_install():
    """Called when plugin is first installed"""
    plugin.logger.info("Installing plugin...")
    await plugin.storage.set("installed_at", datetime.now().isoformat())


@plugin.on_enable
async def on_enable():
    """Called when plugin is enabled"""
    plugin.logger.info("Starting plugin services...")

    # Schedule background task
    await plugin.scheduler.schedule(
        cron="*/5 * * * *",  # Every 5 minutes
        task_name="check_devices",
        handler=check_devices
    )


@plugin.on_disable
async def on_disable():
    """Called when plugin is disabled"""
    await plugin.scheduler.cancel_all()


# ==================== Event Hooks ====================

@plugin.hook("device.created", priority=10)
async def on_device_created(device_id: str, device_data: dict[str, Any]):
    """React to device creation events"""
    plugin.logger.info(f"New device: {device_id}")

    # Store device in plugin storage
    await plugin.storage.set(f"device:{device_id}", device_data)

    # Call Ops-Center API
    await plugin.api.alerts.create({
        "device_id": device_id,
        "severity": "info",
        "title": "Device Registered",
        "message": f"New device {device_data['name']} added"
    })


@plugin.filter_hook("device.data.process", priority=10)
async def enrich_device_data(data: dict[str, Any]) -> dict[str, Any]:
    """Modify device data before storage"""
    data["plugin_processed"] = True
    data["processed_at"] = datetime.now().isoformat()
    return data


@plugin.hook("device.metrics_updated")
async def on_metrics_updated(device_id: str, metrics: dict[str, Any]):
    """Remember the latest metrics of a device"""
    await plugin.storage.set(f"device:{device_id}:metrics", metrics)


# ==================== Custom API Routes ====================

@plugin.route("/status", methods=["GET"])
async def get_status() -> dict[str, Any]:
    """
    GET /plugins/my-plugin/status

    Returns plugin status
    """
    devices_count = len(await plugin.storage.list_keys("device:*"))

    return {
        "status": "running",
        "version": plugin.metadata.version,
        "devices_tracked": devices_count
    }


@plugin.route("/devices/{device_id}/stats", methods=["GET"])
async def get_device_stats(device_id: str) -> dict[str, Any]:
    """
    GET /plugins/my-plugin/devices/123/stats

    Returns stats for specific device
    """
    device_data = await plugin.storage.get(f"device:{device_id}")

    if not device_data:
        return {"error": "Device not found"}, 404

    return {
        "device_id": device_id,
        "tracked_since": device_data.get("tracked_at"),
        "last_updated": device_data.get("updated_at")
    }


# ==================== Background Tasks ====================

async def check_devices():
    """Background task - runs on schedule"""
    plugin.logger.info("Checking devices...")

    devices = await plugin.api.devices.list(status="online")

    for device in devices:
        # Process each device
        await plugin.storage.set(
            f"device:{device['id']}:last_check",
            datetime.now().isoformat()
        )


# ==================== Export FastAPI App ====================

# This is required - creates the FastAPI app that Ops-Center runs
app = plugin.create_app()
