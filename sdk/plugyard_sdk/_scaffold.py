"""The files ``init`` writes: a working plugin in either guide's style, with tests.

Each template passes ``validate`` as written; ``tests/`` is left out of built packages.
Without ``template`` the files below (one plugin showing a hook, a route and a job); with
one of `templates.TEMPLATES`, that template's files (``plugyard_sdk/templates/``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from .templates import template_files

__all__ = ["scaffold_files"]

_OPS_MAIN = '''"""{name}: {description}"""

from datetime import datetime
from typing import Any, Dict

from ops_center_sdk import Plugin

plugin = Plugin(
    id={slug!r},
    name={name!r},
    version="0.1.0",
    description={description!r},
    author={author!r},
    category={category!r},
)


@plugin.hook("device.created", priority=10)
async def on_device_created(device_id: str, device_data: Dict[str, Any]) -> None:
    """Remember every new device."""
    plugin.logger.info(f"New device: {{device_id}}")
    await plugin.storage.set(
        f"device:{{device_id}}", {{**device_data, "tracked_at": datetime.now().isoformat()}}
    )


@plugin.route("/status", methods=["GET"])
async def get_status() -> Dict[str, Any]:
    """GET /ext/{slug}/status"""
    devices = await plugin.storage.list_keys("device:*")
    return {{"status": "running", "version": plugin.metadata.version, "devices_tracked": len(devices)}}


app = plugin.create_app()
'''

_OPS_YAML = """id: {slug}
name: {name_yaml}
version: 0.1.0
description: {description_yaml}
author: {author_yaml}
type: {type}
category: {category}
license: MIT
keywords:
  - {category}

pricing:
  model: free
  price: 0

permissions:
  - storage

hooks:
  - event: device.created
    handler: on_device_created
    priority: 10

routes:
  - path: /status
    methods: [GET]
    handler: get_status

config_schema:
  type: object
  properties:
    enabled:
      type: boolean
      default: true
      description: Enable/disable the plugin

runtime:
  type: python
  version: "3.11+"
  entrypoint: main.py
"""

_OPS_TEST = """import asyncio

from ops_center_sdk.testing import create_test_plugin, trigger_hook


def test_device_created_is_stored():
    plugin = create_test_plugin({slug!r})

    @plugin.hook("device.created")
    async def on_device_created(device_id: str, device_data: dict):
        await plugin.storage.set(f"device:{{device_id}}", device_data)

    asyncio.run(
        trigger_hook(plugin, "device.created", device_id="device-123", device_data={{"name": "Test"}})
    )
    stored = asyncio.run(plugin.storage.get("device:device-123"))
    assert stored["name"] == "Test"
"""

_SBH_MAIN = '''"""{name}: {description}"""

from src.ext.sdk import PluginContext, hook, job, route


@hook("auth.user.created")
def on_user_created(ctx: PluginContext, event_data):
    """Welcome every new user."""
    user_email = event_data.get("user", {{}}).get("email")
    ctx.emit("email.welcome_sent", {{"user_email": user_email}})
    return {{"welcomed": user_email}}


@route("/ping", methods=["GET"])
def ping_route(ctx: PluginContext):
    """GET /ext/{slug}/ping"""
    return {{"status": "ok", "plugin": {slug!r}, "tenant": ctx.tenant_id}}


@job("daily_cleanup", schedule="0 2 * * *")
def daily_cleanup_job(ctx: PluginContext):
    """Runs every day at 2 AM."""
    return {{"status": "cleanup_completed"}}
'''

_SBH_TEST = """from src.ext.sdk import PluginContext

from main import ping_route


def test_ping_answers_with_the_tenant():
    ctx = PluginContext("test-tenant", "test-user")
    result = ping_route(ctx)
    assert result["status"] == "ok"
    assert result["tenant"] == "test-tenant"
"""

_CONFTEST = """import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
"""

_README = """# {name}

{description}

```bash
pip install -r requirements.txt
pytest                      # run the tests
ops-center-plugin validate  # the same checks as the server
ops-center-plugin build     # dist/{slug}-0.1.0.tar.gz and its .sha256
ops-center-plugin publish   # needs OPS_CENTER_API_URL and OPS_CENTER_API_KEY
```
"""


def _requirements() -> str:
    """A requirements.txt that installs in a fresh venv: ``plugyard-sdk`` is on no index, so
    it names the SDK's own folder when this SDK runs from a Plugyard checkout."""
    sdk_dir = Path(__file__).resolve().parent.parent
    head = (
        "# The Plugyard SDK is not on a package index. Install it from the Plugyard checkout's\n"
        "# sdk/ folder, or from the wheel `make sdk` builds there (dist/plugyard_sdk-*.whl):\n"
        "#   plugyard-sdk @ file:///path/to/plugyard/dist/plugyard_sdk-0.1.0-py3-none-any.whl\n"
    )
    if (sdk_dir / "pyproject.toml").is_file() and (sdk_dir / "plugyard_sdk").is_dir():
        return f"{head}plugyard-sdk @ {sdk_dir.as_uri()}\npytest\n"
    return f"{head}# (this SDK was installed from a wheel: point the line below at it)\nplugyard-sdk\npytest\n"


def scaffold_files(
    slug: str,
    *,
    name: str,
    description: str,
    author: str,
    category: str,
    plugin_type: str,
    style: Literal["sbh", "ops-center"],
    template: str | None = None,
) -> dict[str, str]:
    """Relative path → text of every file of a new plugin."""
    values = {
        "slug": slug,
        "name": name,
        "description": description,
        "author": author,
        "category": category,
        "type": plugin_type,
        "name_yaml": json.dumps(name),
        "description_yaml": json.dumps(description),
        "author_yaml": json.dumps(author),
    }
    files = {
        "README.md": _README.format(**values),
        "requirements.txt": _requirements(),
        ".gitignore": "dist/\n__pycache__/\n.pytest_cache/\n",
        "tests/conftest.py": _CONFTEST,
    }
    if template is not None:
        files.update(template_files(template, style, values))
        return files
    if style == "sbh":
        manifest = {
            "slug": slug,
            "name": name,
            "version": "0.1.0",
            "description": description,
            "author": author,
            "entry": "main.py",
            "permissions": [],
            "routes": True,
            "events": ["auth.user.created"],
            "jobs": [{"name": "daily_cleanup", "schedule": "0 2 * * *"}],
        }
        files["plugin.json"] = json.dumps(manifest, indent=2) + "\n"
        files["main.py"] = _SBH_MAIN.format(**values)
        files["tests/test_main.py"] = _SBH_TEST
    else:
        files["plugin.yaml"] = _OPS_YAML.format(**values)
        files["main.py"] = _OPS_MAIN.format(**values)
        files["tests/test_main.py"] = _OPS_TEST.format(**values)
    return files
