# ruff: noqa: W293  (the guides' code is kept byte for byte, trailing blanks included)
"""The two guides' code examples, verbatim, as plugin sources.

Fragments that the guides show without their surroundings (a bare function, top-level
`await` lines, helpers they call but never define) are placed in a minimal plugin: the
guide's lines are unchanged; only the lines marked `# harness` are ours.
"""
from pathlib import Path

SBH_MAIN = (Path(__file__).resolve().parents[1] / "fixtures" / "plugins" / "sbh-my-plugin" / "main.py").read_text()

SBH_CONTEXT = '''from src.ext.sdk import job, PluginContext  # harness

def my_function(ctx: PluginContext):
    # Access secrets
    api_key = ctx.secrets.get("API_KEY")
    
    # Make HTTP requests
    response = ctx.http.get("https://api.example.com/data")
    
    # Use LLM services
    result = ctx.llm.run("Summarize this text: ...")
    
    # Access files
    files = ctx.files.list("uploads/")
    
    # Query database (read-only)
    users = ctx.db.query("users", {"active": True})
    
    # Emit events
    ctx.emit("custom.event", {"data": "value"})

@job("run_my_function")  # harness
def run_my_function(ctx):  # harness
    my_function(ctx)  # harness
    return {"status": "done"}  # harness
'''

SBH_BUILD_HOOK = '''from src.ext.sdk import hook, PluginContext  # harness

@hook("build.completed")
def on_build_completed(ctx: PluginContext, event_data):
    """Handle build completion"""
    build_id = event_data.get('build_id')
    status = event_data.get('status')
    project_name = event_data.get('project_name')
    
    if status == 'success':
        # Send success notification
        ctx.emit("notification.sent", {
            "type": "build_success",
            "build_id": build_id,
            "project": project_name
        })
    else:
        # Send failure notification
        ctx.emit("notification.sent", {
            "type": "build_failure",
            "build_id": build_id,
            "project": project_name
        })
'''

SBH_ROUTES = '''from src.ext.sdk import route, PluginContext  # harness
import hashlib, json  # harness

def validate_signature(data, signature):  # harness
    return signature == "good"  # harness

def process_webhook_data(data):  # harness
    print("processing", data)  # harness

@route("/users/<user_id>", methods=["GET"])
def get_user(ctx: PluginContext, user_id):
    """Get user information"""
    user = ctx.db.get_by_id("users", user_id)
    if user:
        return {"user": user}
    else:
        return {"error": "User not found"}, 404

@route("/webhook", methods=["POST"])
def webhook_handler(ctx: PluginContext):
    """Handle incoming webhook"""
    data = ctx.request.get_json()
    
    # Validate webhook signature
    signature = ctx.request.headers.get('X-Signature')
    if not validate_signature(data, signature):
        return {"error": "Invalid signature"}, 401
    
    # Process webhook
    process_webhook_data(data)
    
    return {"status": "processed"}
'''

SBH_DAILY_REPORT = '''from src.ext.sdk import job, PluginContext  # harness
import json  # harness

def generate_daily_report():  # harness
    return {"users": 3}  # harness

@job("daily_report", schedule="0 9 * * *")
def daily_report_job(ctx: PluginContext):
    """Generate daily report"""
    # Generate report
    report_data = generate_daily_report()
    
    # Store report
    ctx.files.upload("reports/daily.json", json.dumps(report_data))
    
    # Send notification
    ctx.emit("report.generated", {"type": "daily", "data": report_data})
    
    return {"status": "report_generated"}
'''

SBH_TRANSFORM = '''def transform(event_data):
    """Transform event data for webhook delivery"""
    return {
        "event_type": "build.completed",
        "build_id": event_data.get("build_id"),
        "status": event_data.get("status"),
        "project": event_data.get("project_name"),
        "timestamp": event_data.get("created_at")
    }
'''

SBH_SECRETS = '''from src.ext.sdk import job  # harness

@job("read_secrets")  # harness
def read_secrets(ctx):  # harness
    # In your plugin code
    api_key = ctx.secrets.get("API_KEY")
    webhook_url = ctx.secrets.get("WEBHOOK_URL")
    return {"api_key": api_key, "webhook_url": webhook_url}  # harness
'''

OPS_MAIN = '''from ops_center_sdk import Plugin
from typing import Dict, Any

# Create plugin instance
plugin = Plugin(
    id="my-plugin",
    name="My Plugin",
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
async def on_device_created(device_id: str, device_data: Dict[str, Any]):
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
async def enrich_device_data(data: Dict[str, Any]) -> Dict[str, Any]:
    """Modify device data before storage"""
    data["plugin_processed"] = True
    data["processed_at"] = datetime.now().isoformat()
    return data


# ==================== Custom API Routes ====================

@plugin.route("/status", methods=["GET"])
async def get_status() -> Dict[str, Any]:
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
async def get_device_stats(device_id: str) -> Dict[str, Any]:
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
'''

# The SDK Components sections are top-level `await` lines; they run inside one handler each.
OPS_COMPONENTS = '''from ops_center_sdk import Plugin  # harness
from datetime import datetime, timedelta

plugin = Plugin(  # harness
    id="unique-plugin-id",
    name="Display Name",
    version="1.0.0",
    description="What your plugin does",
    author="Your Name",
    category="monitoring"  # monitoring, ai, security, integration, analytics
)

async def my_handler(arg1=None):  # harness
    return arg1  # harness

async def sync_handler():  # harness
    return None  # harness

@plugin.route("/api-client", methods=["POST"])  # harness
async def api_client():  # harness
    # Devices
    devices = await plugin.api.devices.list(page=1, status="online")
    device = await plugin.api.devices.get("device-123")
    await plugin.api.devices.create({"name": "New Device", "type": "server"})
    await plugin.api.devices.update("device-123", {"status": "maintenance"})
    await plugin.api.devices.delete("device-123")

    # Users
    users = await plugin.api.users.list()
    user = await plugin.api.users.get("user-456")

    # Organizations
    orgs = await plugin.api.organizations.list()
    org = await plugin.api.organizations.get("org-789")

    # Alerts
    alerts = await plugin.api.alerts.list(severity="critical", status="active")
    await plugin.api.alerts.create({
        "device_id": "device-123",
        "severity": "warning",
        "title": "High CPU Usage",
        "message": "CPU usage is above 90%"
    })
    await plugin.api.alerts.acknowledge("alert-123")

    # Webhooks
    webhooks = await plugin.api.webhooks.list()
    await plugin.api.webhooks.create({
        "url": "https://example.com/webhook",
        "events": ["device.created", "alert.created"]
    })
    return {"ok": True}  # harness

@plugin.route("/storage", methods=["POST"])  # harness
async def storage():  # harness
    # Store data
    await plugin.storage.set("key", {"data": "value"})
    await plugin.storage.set("counter", 42)

    # Retrieve data
    value = await plugin.storage.get("key")
    counter = await plugin.storage.get("counter", default=0)

    # Check existence
    if await plugin.storage.exists("key"):
        print("Key exists")

    # List keys with pattern
    keys = await plugin.storage.list_keys("device:*")

    # Delete
    await plugin.storage.delete("key")

    # Clear all
    await plugin.storage.clear()
    return {"value": value, "counter": counter, "keys": keys}  # harness

@plugin.route("/scheduler", methods=["POST"])  # harness
async def scheduler():  # harness
    # Run once at specific time
    run_time = datetime.now() + timedelta(hours=1)
    await plugin.scheduler.run_at(run_time, my_handler, arg1="value")

    # Run once after delay
    await plugin.scheduler.run_in(timedelta(minutes=5), my_handler)

    # Run on schedule (cron)
    await plugin.scheduler.schedule(
        cron="0 */6 * * *",  # Every 6 hours
        task_name="sync_data",
        handler=sync_handler
    )
    task_id = "task-1"  # harness

    # Cancel task
    await plugin.scheduler.cancel(task_id)

    # Cancel all tasks
    await plugin.scheduler.cancel_all()

    # List active tasks
    tasks = plugin.scheduler.get_tasks()
    return {"tasks": tasks}  # harness

@plugin.route("/config", methods=["POST"])  # harness
async def config():  # harness
    # Get config value
    threshold = plugin.config.get("threshold", default=0.8)
    enabled = plugin.config.get("enabled")

    # Set config value
    plugin.config.set("threshold", 0.9)

    # Get all config
    all_config = plugin.config.all()

    # Save changes
    await plugin.config.save()

    # Reload from disk
    await plugin.config.reload()
    return {"threshold": threshold, "enabled": enabled, "all": all_config}  # harness

@plugin.route("/logger", methods=["POST"])  # harness
async def logger():  # harness
    plugin.logger.debug("Debug message")
    plugin.logger.info("Info message")
    plugin.logger.warning("Warning message")
    plugin.logger.error("Error message")
    plugin.logger.critical("Critical message")
    return {}  # harness
'''

OPS_HOOKS = '''from ops_center_sdk import Plugin  # harness
plugin = Plugin(id="hooks", name="Hooks", version="1.0.0")  # harness

async def process_device(device_data):  # harness
    raise ValueError("bad device")  # harness

@plugin.hook("device.created", priority=10)
async def handle_device_created(device_id: str, device_data: dict):
    """React to device creation"""
    plugin.logger.info(f"Device created: {device_id}")

@plugin.filter_hook("device.data.process", priority=10)
async def enrich_data(data: dict) -> dict:
    """Modify device data before storage"""
    data["enriched"] = True
    return data

@plugin.hook("device.created")
async def on_device_created(device_id: str, device_data: dict):
    try:
        # Your logic
        await process_device(device_data)
    except Exception as e:
        plugin.logger.error(f"Error processing device: {e}")
        # Don't let exceptions crash the plugin

# Good
async def my_handler():
    data = await plugin.storage.get("key")
    return data

@plugin.on_disable
async def on_disable():
    # Cancel background tasks
    await plugin.scheduler.cancel_all()
    
    # Close connections
    await plugin.api.close()
    
    # Clear caches
    await plugin.storage.clear()

@plugin.route("/threshold", methods=["GET"])  # harness
async def threshold_route():  # harness
    # Use config
    threshold = plugin.config.get("threshold", default=0.8)  # Good
    return {"threshold": threshold}  # harness
'''
