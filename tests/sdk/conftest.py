"""SDK test fixtures: the two guides' plugins verbatim, and archive builders. No Django."""
# ruff: noqa: W293  (the guides' code is copied verbatim, trailing spaces included)

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

# --- the SBH guide, verbatim -------------------------------------------------------------
# The guides' plugin.json, main.py and plugin.yaml, verbatim, shared with the rest of the suite.
GUIDE_PLUGINS = Path(__file__).resolve().parents[1] / "fixtures" / "plugins"
SBH_PLUGIN_JSON = (GUIDE_PLUGINS / "sbh-my-plugin" / "plugin.json").read_text()

SBH_MAIN = (GUIDE_PLUGINS / "sbh-my-plugin" / "main.py").read_text()

SBH_WEBHOOK = """api_version: v1
on: ["build.completed", "auth.user.created"]
delivery:
  url: "${SECRET:WEBHOOK_URL}"
  headers:
    X-Source: "SBH"
    X-Tenant: "${TENANT_ID}"
  signing:
    alg: "HMAC-SHA256"
    secret: "${SECRET:WEBHOOK_SIGNING_KEY}"
transform:
  language: "python"
  entry: "transforms/build_completed.py#transform"
retry:
  max_attempts: 6
  backoff: "exponential"
"""

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

# --- the Ops-Center guide, verbatim ------------------------------------------------------
OPS_PLUGIN_YAML = (GUIDE_PLUGINS / "ops-my-plugin" / "plugin.yaml").read_text()

# The guide's main.py uses datetime without importing it; it must still upload.
OPS_MAIN = '''from ops_center_sdk import Plugin
from typing import Dict, Any

plugin = Plugin(
    id="my-plugin",
    name="My Plugin",
    version="1.0.0",
    description="My awesome plugin",
    author="Your Name",
    category="monitoring"
)


@plugin.on_install
async def on_install():
    """Called when plugin is first installed"""
    plugin.logger.info("Installing plugin...")
    await plugin.storage.set("installed_at", datetime.now().isoformat())


@plugin.hook("device.created", priority=10)
async def on_device_created(device_id: str, device_data: Dict[str, Any]):
    """React to device creation events"""
    plugin.logger.info(f"New device: {device_id}")
    await plugin.storage.set(f"device:{device_id}", device_data)


@plugin.filter_hook("device.data.process", priority=10)
async def enrich_device_data(data: Dict[str, Any]) -> Dict[str, Any]:
    """Modify device data before storage"""
    data["plugin_processed"] = True
    data["processed_at"] = datetime.now().isoformat()
    return data


@plugin.route("/status", methods=["GET"])
async def get_status() -> Dict[str, Any]:
    return {"status": "running", "version": plugin.metadata.version}


@plugin.route("/devices/{device_id}/stats", methods=["GET"])
async def get_device_stats(device_id: str) -> Dict[str, Any]:
    device_data = await plugin.storage.get(f"device:{device_id}")
    if not device_data:
        return {"error": "Device not found"}, 404
    return {"device_id": device_id}


app = plugin.create_app()
'''


@pytest.fixture(autouse=True)
def _isolated_storage():
    """Overrides the Django suite's autouse fixture: SDK tests need no settings."""
    yield


@pytest.fixture
def sbh_files() -> dict[str, bytes]:
    return {
        "plugin.json": SBH_PLUGIN_JSON.encode(),
        "main.py": SBH_MAIN.encode(),
        "webhooks/notifications.yaml": SBH_WEBHOOK.encode(),
        "transforms/build_completed.py": SBH_TRANSFORM.encode(),
    }


@pytest.fixture
def ops_files() -> dict[str, bytes]:
    return {"plugin.yaml": OPS_PLUGIN_YAML.encode(), "main.py": OPS_MAIN.encode()}


def sbh_manifest(**changes: object) -> bytes:
    """The SBH guide's plugin.json with fields changed (None removes a field)."""
    data = json.loads(SBH_PLUGIN_JSON)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()


def make_zip(files: dict[str, bytes], top: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(top + name, data)
    return buffer.getvalue()


def make_tar(
    files: dict[str, bytes], top: str = "", extra: list[tarfile.TarInfo] | None = None
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(top + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra or []:
            archive.addfile(info)
    return buffer.getvalue()
