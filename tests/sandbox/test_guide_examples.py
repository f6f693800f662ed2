"""Given each guide example as a plugin, when it runs in the sandbox, then it does what the guide says."""

from __future__ import annotations

import asyncio
import unittest
from pathlib import Path

import pytest

from plugins_core.sandbox import DictBridge

from . import guide_examples as ex
from .conftest import call, make_plugin

ALL = {"db.read", "db.write", "files.read", "files.write", "outbound_http", "send_email", "emit_webhook", "llm.use"}


def test_sbh_entry_point_hook_route_job(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.SBH_MAIN})
    bridge = DictBridge(permissions=ALL)
    hook = call(supervisor, plugin, "hook", "auth.user.created", {"user": {"email": "ada@example.com"}}, bridge=bridge)
    assert hook.status == "ok", hook
    assert hook.logs == ["New user created: ada@example.com"]
    assert bridge.emitted == [("email.welcome_sent", {"user_email": "ada@example.com"})]
    ping = call(supervisor, plugin, "route", "/ping", bridge=bridge, context={"request": {"method": "GET"}})
    assert ping.value == {"status": 200, "body": {"status": "ok", "plugin": "my-plugin", "tenant": "tenant-1"},
                          "headers": {}}
    job = call(supervisor, plugin, "job", "daily_cleanup", bridge=bridge)
    assert job.value == {"status": "cleanup_completed"} and job.logs == ["Running daily cleanup..."]
    report = supervisor.inspect(plugin, "main.py")
    assert report.ok and report.style == "sbh"
    assert report.hooks == [{"event": "auth.user.created", "handler": "on_user_created", "priority": 10, "kind": "action"}]
    assert report.routes == [{"path": "/ping", "methods": ["GET"], "handler": "ping_route", "summary": "Health check endpoint"}]
    assert report.jobs == [{"name": "daily_cleanup", "schedule": "0 2 * * *", "handler": "daily_cleanup_job"}]


def test_sbh_plugin_context_services(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.SBH_CONTEXT})
    bridge = DictBridge(permissions=ALL, secrets={"API_KEY": "k"}, tables={"users": [{"id": 1, "active": True}]})
    result = call(supervisor, plugin, "job", "run_my_function", bridge=bridge)
    assert result.status == "ok", result
    assert [m for m, _ in bridge.calls] == ["secrets.get", "http.request", "llm.run", "files.list", "db.query", "emit"]


def test_sbh_permission_denied_names_the_permission(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.SBH_CONTEXT})
    result = call(supervisor, plugin, "job", "run_my_function", bridge=DictBridge(permissions=set()))
    assert result.status == "error"
    assert result.error == "PermissionError: http.request requires permission 'outbound_http'"
    assert 'File "main.py", line 8, in my_function' in result.traceback
    assert "/work" not in result.traceback and "site-packages" not in result.traceback


def test_sbh_build_completed_hook(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.SBH_BUILD_HOOK})
    bridge = DictBridge()
    for status in ("success", "failed"):
        r = call(supervisor, plugin, "hook", "build.completed",
                 {"build_id": "b1", "status": status, "project_name": "web"}, bridge=bridge)
        assert r.status == "ok", r
    assert [d["type"] for _, d in bridge.emitted] == ["build_success", "build_failure"]


def test_sbh_routes_with_params_status_and_request(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.SBH_ROUTES})
    bridge = DictBridge(permissions={"db.read"}, tables={"users": [{"id": 7, "name": "Ada"}]})
    found = call(supervisor, plugin, "route", "/users/7", bridge=bridge)
    assert found.value["body"] == {"user": {"id": 7, "name": "Ada"}}
    missing = call(supervisor, plugin, "route", "/users/8", bridge=bridge)
    assert missing.value == {"status": 404, "body": {"error": "User not found"}, "headers": {}}
    req = {"method": "POST", "path": "/webhook", "headers": {"x-signature": "good"}, "body": '{"a": 1}'}
    ok = call(supervisor, plugin, "route", "/webhook", bridge=bridge, context={"request": req})
    assert ok.value["body"] == {"status": "processed"} and ok.logs == ["processing {'a': 1}"]
    bad = call(supervisor, plugin, "route", "/webhook", bridge=bridge,
               context={"request": {**req, "headers": {"X-Signature": "forged"}}})
    assert bad.value["status"] == 401
    wrong_method = call(supervisor, plugin, "route", "/webhook", bridge=bridge, context={"request": {"method": "GET"}})
    assert wrong_method.error_type == "MethodNotAllowed"
    nowhere = call(supervisor, plugin, "route", "/nope", bridge=bridge)
    assert nowhere.error_type == "NotFound"


def test_sbh_daily_report_job(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.SBH_DAILY_REPORT})
    bridge = DictBridge(permissions={"files.write"})
    r = call(supervisor, plugin, "job", "daily_report", bridge=bridge, timeout=None)
    assert r.value == {"status": "report_generated"}
    assert bridge.files == {"reports/daily.json": '{"users": 3}'}


def test_sbh_transform_script(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.SBH_BUILD_HOOK,
                                          "transforms/build_completed.py": ex.SBH_TRANSFORM})
    r = call(supervisor, plugin, "transform", "transforms/build_completed.py#transform",
             {"build_id": "b9", "status": "success", "project_name": "api", "created_at": "2024-01-01"})
    assert r.value == {"event_type": "build.completed", "build_id": "b9", "status": "success", "project": "api",
                       "timestamp": "2024-01-01"}


def test_sbh_secrets(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.SBH_SECRETS})
    r = call(supervisor, plugin, "job", "read_secrets", bridge=DictBridge(secrets={"API_KEY": "a", "WEBHOOK_URL": "u"}))
    assert r.value == {"api_key": "a", "webhook_url": "u"}


def test_sbh_local_testing_outside_the_sandbox() -> None:
    namespace: dict = {}
    exec(compile(ex.SBH_MAIN, "main.py", "exec"), namespace)
    your_plugin_function = namespace["on_user_created"]
    test_data = {"user": {"email": "x@example.com"}}
    # Test your plugin locally
    from src.ext.sdk import PluginContext

    # Create test context
    ctx = PluginContext("test-tenant", "test-user")

    # Test your functions
    result = your_plugin_function(ctx, test_data)
    print(result)
    assert ctx.backend.emitted == [("email.welcome_sent", {"user_email": "x@example.com"})]
    assert namespace["ping_route"](ctx)["tenant"] == "test-tenant"


def test_sbh_unit_test_class_outside_the_sandbox() -> None:
    from src.ext.sdk import PluginContext

    def my_function(ctx, data):
        return {"status": "success", "tenant": ctx.tenant_id, **data}

    class TestMyPlugin(unittest.TestCase):
        def setUp(self):
            self.ctx = PluginContext("test-tenant", "test-user")

        def test_my_function(self):
            result = my_function(self.ctx, {"test": "data"})
            self.assertEqual(result["status"], "success")

    outcome = unittest.TextTestRunner(verbosity=0).run(unittest.defaultTestLoader.loadTestsFromTestCase(TestMyPlugin))
    assert outcome.wasSuccessful()


def test_ops_center_main_example(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.OPS_MAIN})
    report = supervisor.inspect(plugin, "main.py")
    assert report.ok, report.errors
    assert report.style == "ops-center" and report.plugin["id"] == "my-plugin"
    assert {(h["event"], h["handler"], h["kind"]) for h in report.hooks} == {
        ("device.created", "on_device_created", "action"), ("device.data.process", "enrich_device_data", "filter")}
    assert [r["path"] for r in report.routes] == ["/status", "/devices/{device_id}/stats"]
    assert report.lifecycle == {"install": ["on_install"], "enable": ["on_enable"], "disable": ["on_disable"]}
    assert report.tasks == [{"type": "cron", "cron": "*/5 * * * *", "task_name": "check_devices",
                             "handler": "check_devices"}]

    bridge = DictBridge()
    assert call(supervisor, plugin, "lifecycle", "install", bridge=bridge).status == "ok"
    assert "installed_at" in bridge.storage
    assert call(supervisor, plugin, "lifecycle", "enable", bridge=bridge).logs == ["INFO: Starting plugin services..."]
    assert bridge.tasks[0]["handler"] == "check_devices"
    r = call(supervisor, plugin, "hook", "device.created", {"device_id": "d1", "device_data": {"name": "Edge"}},
             bridge=bridge)
    assert r.status == "ok", r
    assert bridge.storage["device:d1"] == {"name": "Edge"}
    assert bridge.api_calls[0]["resource"] == "alerts" and bridge.api_calls[0]["action"] == "create"
    f = call(supervisor, plugin, "filter", "device.data.process", {"name": "Edge"}, bridge=bridge)
    assert f.value["plugin_processed"] is True and "processed_at" in f.value
    status = call(supervisor, plugin, "route", "/status", bridge=bridge)
    assert status.value["body"] == {"status": "running", "version": "1.0.0", "devices_tracked": 1}
    stats = call(supervisor, plugin, "route", "/devices/nope/stats", bridge=bridge)
    assert stats.value == {"status": 404, "body": {"error": "Device not found"}, "headers": {}}
    assert call(supervisor, plugin, "task", "check_devices", bridge=bridge).status == "ok"
    assert call(supervisor, plugin, "lifecycle", "disable", bridge=bridge).status == "ok"
    assert bridge.tasks == []


@pytest.mark.parametrize("route", ["/api-client", "/storage", "/scheduler", "/config", "/logger"])
def test_ops_center_sdk_components(supervisor, tmp_path: Path, route: str) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.OPS_COMPONENTS})
    bridge = DictBridge()
    r = call(supervisor, plugin, "route", route, bridge=bridge,
             context={"request": {"method": "POST"}, "config": {"enabled": True}})
    assert r.status == "ok", r
    if route == "/api-client":
        assert len(bridge.api_calls) == 14
    if route == "/logger":
        assert r.logs == ["DEBUG: Debug message", "INFO: Info message", "WARNING: Warning message",
                          "ERROR: Error message", "CRITICAL: Critical message"]
    if route == "/config":
        assert r.value["body"]["threshold"] == 0.8 and bridge.config == {"enabled": True, "threshold": 0.9}
    if route == "/storage":
        assert r.logs == ["Key exists"] and bridge.storage == {}


def test_ops_center_hooks_and_best_practices(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": ex.OPS_HOOKS})
    bridge = DictBridge()
    # A call runs one handler, named by the host's dispatcher (priority 10 first, then 0).
    logs = []
    for handler in ("handle_device_created", "on_device_created"):
        r = call(supervisor, plugin, "hook", "device.created", {"device_id": "d2", "device_data": {}}, bridge=bridge,
                 handler=handler)
        assert r.status == "ok", r
        logs += r.logs
    assert logs == ["INFO: Device created: d2", "ERROR: Error processing device: bad device"]
    f = call(supervisor, plugin, "filter", "device.data.process", {"x": 1})
    assert f.value == {"x": 1, "enriched": True}
    assert call(supervisor, plugin, "lifecycle", "disable", bridge=bridge).status == "ok"
    assert call(supervisor, plugin, "route", "/threshold", bridge=bridge).value["body"] == {"threshold": 0.8}


def test_ops_center_testing_section_outside_the_sandbox() -> None:
    from ops_center_sdk.testing import create_test_plugin, trigger_hook

    async def test_device_hook():
        # Create test plugin with mocks
        plugin = create_test_plugin("test-plugin")

        # Register your hook
        @plugin.hook("device.created")
        async def on_device_created(device_id: str, device_data: dict):
            await plugin.storage.set(f"device:{device_id}", device_data)

        # Trigger the hook
        await trigger_hook(
            plugin,
            "device.created",
            device_id="device-123",
            device_data={"name": "Test Device"}
        )

        # Verify behavior
        stored = await plugin.storage.get("device:device-123")
        assert stored["name"] == "Test Device"

    async def test_api_calls():
        plugin = create_test_plugin("test-plugin")

        # Create mock device
        device = await plugin.api.devices.create({
            "name": "Test Device",
            "type": "server"
        })

        # Verify
        assert device["name"] == "Test Device"

        # Check API was called
        requests = plugin.api.get_requests(method="POST", endpoint="/devices")
        assert len(requests) == 1

    asyncio.run(test_device_hook())
    asyncio.run(test_api_calls())


def test_with_fixtures(plugin, mock_api, mock_storage):
    """Use pytest fixtures"""
    assert plugin.metadata.id == "test-plugin"
    from ops_center_sdk.testing import MockAPIClient, MockStorage

    assert isinstance(mock_api, MockAPIClient) and isinstance(mock_storage, MockStorage)
