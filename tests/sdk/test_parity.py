"""Local and server alike: the same builtins (the SDK's one list), metadata.version from the
manifest, and local ctx.llm / ctx.http fakes that say they are fakes."""
from __future__ import annotations

import builtins
import importlib.util
import json
import logging

import pytest
from plugyard_sdk.plugin_builtins import PLUGIN_BUILTINS
from plugyard_sdk.testing import LocalBackend

from plugins_core.sandbox.runtime.guard import Guard
from tests.conftest import make_tar_gz, plugin_files
from tests.kit import install, plugin_zip

# The SBH guide's `daily_report` job exactly as printed (json.dumps with no import); the
# guide leaves generate_daily_report to the author.
DAILY_REPORT = '''
from src.ext.sdk import job, PluginContext

def generate_daily_report():
    return {"signups": 3}

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


def _load(tmp_path, files: dict[str, bytes], module: str = "main"):
    """Import a plugin folder's entry module as a local test does (a plain import)."""
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    spec = importlib.util.spec_from_file_location(f"_parity_{module}_{id(tmp_path)}", tmp_path / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _ops_files(version: str) -> dict[str, bytes]:
    files = plugin_files("ops-my-plugin")
    files["plugin.yaml"] = files["plugin.yaml"].replace(b"version: 1.0.0", f"version: {version}".encode(), 1)
    assert b'version="1.0.0"' in files["main.py"]  # the code says otherwise: the manifest wins
    return files


def test_the_sandbox_gives_plugin_code_exactly_the_sdks_builtins():
    guard = Guard("/nonexistent", frozenset({"json", "datetime"}), {})
    for name, value in PLUGIN_BUILTINS.items():
        given = guard.builtins[name]
        assert given is value or getattr(given, "__name__", None) == value.__name__  # a module: its filtered copy
    assert set(PLUGIN_BUILTINS) == {"datetime", "json"}


def test_the_guides_import_names_give_local_code_the_same_builtins():
    import ops_center_sdk  # noqa: F401
    import src.ext.sdk  # noqa: F401

    for name, value in PLUGIN_BUILTINS.items():
        assert getattr(builtins, name) is value


def test_the_sbh_guides_daily_report_runs_locally_as_printed(tmp_path):
    from src.ext.sdk import PluginContext

    backend = LocalBackend()
    main = _load(tmp_path, {"main.py": DAILY_REPORT.encode()})
    assert main.daily_report_job(PluginContext("test-tenant", "test-user", backend=backend)) == {
        "status": "report_generated"}
    assert json.loads(backend.files["reports/daily.json"]) == {"signups": 3}


@pytest.mark.django_db
def test_the_sbh_guides_daily_report_runs_on_the_server_as_printed(owner):
    from plugins_core.jobs import runs

    installation = install(owner, plugin_zip("daily", DAILY_REPORT, permissions=["files.write"],
                                             jobs=[{"name": "daily_report", "schedule": "0 9 * * *"}]))
    response = owner.client.post(f"/api/plugins/{installation.pk}/jobs/daily_report/run-now")
    assert response.status_code == 202, response.content
    runs.execute(response.json()["run_id"])
    run = owner.client.get(response.json()["url"]).json()
    assert (run["status"], run["result"]) == ("ok", {"status": "report_generated"}), run


@pytest.mark.django_db
def test_metadata_version_is_the_installed_manifests_on_the_server(owner):
    install(owner, make_tar_gz(_ops_files("0.2.0"), top="my-plugin-0.2.0"), "my-plugin-0.2.0.tar.gz")
    status = owner.client.get("/ext/my-plugin/status")
    assert status.status_code == 200, status.content
    assert status.json()["version"] == "0.2.0"


def test_metadata_version_is_the_manifests_locally(tmp_path):
    main = _load(tmp_path, _ops_files("0.2.0"))
    assert main.plugin.metadata.version == "0.2.0"
    assert main.plugin.metadata.id == "my-plugin"


def test_without_a_manifest_the_code_says_the_version(tmp_path):
    main = _load(tmp_path, {"main.py": _ops_files("0.2.0")["main.py"]})
    assert main.plugin.metadata.version == "1.0.0"


def test_the_local_llm_and_http_say_they_are_fakes(caplog):
    from src.ext.sdk import PluginContext

    ctx = PluginContext("test-tenant", "test-user", backend=LocalBackend())
    with caplog.at_level(logging.WARNING, logger="plugyard_sdk.local"):
        answer = ctx.llm.run("Summarise the week")
        response = ctx.http.get("https://api.example.com/things")
    assert answer.startswith("[local fake llm: no model was called]") and "Summarise the week" in answer
    assert response.headers["X-Plugyard-Fake"] == "local" and response.status_code == 200
    assert {"ctx.llm", "ctx.http"} == {r.getMessage().split()[0] for r in caplog.records}
    assert all("local fake" in r.getMessage() for r in caplog.records)
