"""The dev loop against a real server (live_server, the real sandbox service): `plugyard dev` pushes on
save and an edit goes live without a version bump; `logs`, `replay` (local and --server) and `test`."""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from plugyard_sdk.cli import main

from tests.conftest import FIXTURE_PLUGINS


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "sbh-my-plugin"
    shutil.copytree(FIXTURE_PLUGINS / "sbh-my-plugin", target)
    monkeypatch.delenv("PLUGYARD_TENANT", raising=False)
    monkeypatch.delenv("OPS_CENTER_API_URL", raising=False)
    monkeypatch.delenv("OPS_CENTER_API_KEY", raising=False)
    return target


def _ping(base: str, token: str) -> dict:
    request = urllib.request.Request(f"{base}/ext/my-plugin/ping", headers={"Authorization": f"Bearer {token}",
                                                                            "X-Tenant-Slug": "acme"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return {"http": exc.code}


def _wait_for(lines: queue.Queue, text: str, seen: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} never printed:\n" + "".join(seen))


@pytest.mark.django_db(transaction=True)
def test_dev_pushes_each_save_and_an_edit_goes_live_without_a_version_bump(live_server, owner, plugin_dir) -> None:
    env = {**os.environ, "PLUGYARD_URL": live_server.url, "PLUGYARD_TOKEN": owner.token, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-m", "plugyard_sdk.cli", "dev", str(plugin_dir), "--interval", "0.3"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        _wait_for(lines, "/ext/my-plugin/ping", seen)  # pushed (installed, enabled), routes printed
        assert _ping(live_server.url, owner.token)["status"] == "ok"
        main_py = plugin_dir / "main.py"
        started = time.monotonic()
        main_py.write_text(main_py.read_text().replace('"status": "ok"', '"status": "edited"'))
        while _ping(live_server.url, owner.token).get("status") != "edited":
            assert time.monotonic() - started < 30, "".join(seen)
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        print(f"\nplugyard dev: edit → live in {elapsed:.2f} s")
        _wait_for(lines, "route ping_route: ok", seen)  # the call streamed back
        assert any("+dev.2" in line for line in seen), "".join(seen)
    finally:
        child.send_signal(signal.SIGINT)
        child.wait(timeout=20)
        reader.join(timeout=5)
    while not lines.empty():
        seen.append(lines.get())
    assert "The dev build stays in place" in "".join(seen), "".join(seen)
    from plugins_core.models import Installation, PluginVersion

    installation = Installation.objects.get(plugin__slug="my-plugin")
    assert installation.version.is_dev and installation.version.version.startswith("1.0.0+dev.")
    assert not PluginVersion.objects.filter(plugin__slug="my-plugin").exists()  # nothing released, nothing listed


@pytest.mark.django_db(transaction=True)
def test_logs_and_replay_of_an_event_locally_and_on_the_server(live_server, owner, plugin_dir, monkeypatch,
                                                                capsys) -> None:
    monkeypatch.setenv("PLUGYARD_URL", live_server.url)
    monkeypatch.setenv("PLUGYARD_TOKEN", owner.token)
    assert main(["dev", str(plugin_dir), "--once"]) == 0, capsys.readouterr().err
    tried = owner.client.post("/api/plugins/test-event", {
        "event_type": "auth.user.created", "event_data": {"user": {"id": "u1", "email": "ann@example.com"}}},
        format="json").json()
    ident = tried["handlers"][0]["invocation"]
    capsys.readouterr()
    assert main(["logs", str(plugin_dir)]) == 0
    assert f"#{ident} hook on_user_created: ok" in capsys.readouterr().out
    main_py = plugin_dir / "main.py"
    main_py.write_text(main_py.read_text().replace('print(f"New user created: {user_email}")',
                                                   'print(f"Welcome, {user_email}")'))
    assert main(["replay", str(ident), str(plugin_dir)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "recorded" in out and "now, local code" in out and "ann@example.com" not in out
    assert "New user created: [redacted]" in out and "Welcome, [redacted]" in out
    assert main(["replay", str(ident), "--server"]) == 0, capsys.readouterr().err
    assert "now, on the server" in capsys.readouterr().out


def test_plugyard_test_runs_the_plugins_async_tests_with_the_kit(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_it.py").write_text(
        "from ops_center_sdk.testing import create_test_plugin\n\n"
        "async def test_storage():\n"
        "    plugin = create_test_plugin()\n"
        "    await plugin.storage.set('k', 1)\n"
        "    assert await plugin.storage.get('k') == 1\n")
    assert main(["test", str(tmp_path), "--", "-q", "-p", "no:cacheprovider"]) == 0
