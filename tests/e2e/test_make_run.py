"""The README's path, end to end: `make run`, `create_tenant`, then the guides' own curl commands.

Real gunicorn, a real Celery worker and beat (config/supervise.py, the Procfile), SQLite and the
filesystem broker in a fresh var/ directory, and the real sandbox. Runs once, on the
embedded leg of `make test` (it tests the embedded defaults by design).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "plugins"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="`make run` is the embedded path; runs on the SQLite leg"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # A fresh clone has none of the suite's settings: not its database, broker or sandbox service.
        self.env = {k: v for k, v in os.environ.items()
                    if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "PLUGYARD_SANDBOX_SOCKET"}}
        self.env.update(PLUGYARD_VAR_DIR=str(tmp / "var"), PORT=str(self.port))
        self.log = tmp / "make-run.log"
        self.process = subprocess.Popen(
            ["make", "run"], cwd=REPO, env=self.env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until_up(self, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"make run exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200 and "celery@" in self.log.read_text():
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"make run did not come up:\n{self.log.read_text()[-3000:]}")

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [str(REPO / ".venv/bin/python"), "manage.py", *args], cwd=REPO, env=self.env,
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def curl(self, *args: str, cwd: Path | None = None) -> tuple[int, object]:
        result = subprocess.run(
            ["curl", "-s", "-w", "\n%{http_code}", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        )
        body, _, code = result.stdout.rpartition("\n")
        try:
            return int(code), json.loads(body)
        except ValueError:
            return int(code), body

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("make-run"))
    try:
        stack.wait_until_up()
        yield stack
    finally:
        stack.stop()


def _headers(token: str, tenant: str) -> list[str]:
    return ["-H", f"Authorization: Bearer {token}", "-H", f"X-Tenant-Slug: {tenant}"]


def _poll(check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_make_run_prints_where_to_go(stack):
    output = stack.log.read_text()
    for needle in ["/admin/", "/api/docs/", "Bearer pyd_", "X-Tenant-Slug: demo"]:
        assert needle in output


def test_sbh_guide_flow(stack, tmp_path):
    token = stack.manage("create_tenant", "acme", "--owner", "ops@acme.test").strip().splitlines()[-1]
    plugin = tmp_path / "my-plugin"
    shutil.copytree(FIXTURES / "sbh-my-plugin", plugin)
    subprocess.run(["zip", "-r", "my-plugin.zip", "."], cwd=plugin, check=True, capture_output=True)

    code, body = stack.curl("-X", "POST", f"{stack.base}/api/plugins/upload", *_headers(token, "acme"), "-F", "file=@my-plugin.zip", cwd=plugin)
    assert code == 201, body
    installation_id = body["id"]
    code, listed = stack.curl(*_headers(token, "acme"), f"{stack.base}/api/plugins/")
    assert code == 200 and [item["slug"] for item in listed] == ["my-plugin"]

    code, _ = stack.curl("-X", "POST", f"{stack.base}/api/plugins/{installation_id}/enable", *_headers(token, "acme"))
    assert code == 200
    code, pong = stack.curl(*_headers(token, "acme"), f"{stack.base}/ext/my-plugin/ping")
    assert code == 200 and pong == {"status": "ok", "plugin": "my-plugin", "tenant": "acme"}

    code, outcome = stack.curl(
        "-X", "POST", f"{stack.base}/api/plugins/test-event", *_headers(token, "acme"),
        "-d", '{"event_type": "auth.user.created", "event_data": {"user": {"id": 1, "email": "try@acme.test"}}}',
    )
    assert code == 200, outcome
    assert outcome["handlers"][0]["status"] == "ok"

    # A real user creation through the API fires the hook on the Celery worker.
    code, _ = stack.curl("-X", "POST", f"{stack.base}/api/members/", *_headers(token, "acme"),
                         "-H", "Content-Type: application/json", "-d", '{"email": "new@acme.test"}')
    assert code == 201

    def hook_ran():
        _, page = stack.curl(*_headers(token, "acme"), f"{stack.base}/api/plugins/{installation_id}/invocations?kind=hook")
        return [r for r in page["results"] if "New user created: new@acme.test" in r["logs"] and r["status"] == "ok"]

    assert _poll(hook_ran), stack.log.read_text()[-3000:]
    _, events = stack.curl(*_headers(token, "acme"), f"{stack.base}/api/events/?type=email.welcome_sent")
    assert {"user_email": "new@acme.test"} in [event["payload"] for event in events["results"]]
    assert events["results"][0]["source_plugin"] == "my-plugin"


def test_ops_center_guide_flow(stack, tmp_path):
    token = stack.manage("create_tenant", "globex", "--owner", "ops@globex.test").strip().splitlines()[-1]
    plugin = tmp_path / "my-plugin"
    shutil.copytree(FIXTURES / "ops-my-plugin", plugin)
    subprocess.run([str(REPO / ".venv/bin/ops-center-plugin"), "build"], cwd=plugin, check=True, capture_output=True)
    package = plugin / "dist" / "my-plugin-1.0.0.tar.gz"

    code, body = stack.curl("-X", "POST", f"{stack.base}/api/plugins/upload", *_headers(token, "globex"), "-F", f"file=@{package}")
    assert code == 201, body
    installation_id = body["id"]
    code, listed = stack.curl(*_headers(token, "globex"), f"{stack.base}/api/plugins/")
    assert [item["slug"] for item in listed] == ["my-plugin"]
    stack.curl("-X", "POST", f"{stack.base}/api/plugins/{installation_id}/enable", *_headers(token, "globex"))

    code, device = stack.curl("-X", "POST", f"{stack.base}/api/devices/", *_headers(token, "globex"),
                              "-H", "Content-Type: application/json", "-d", '{"name": "edge-1", "type": "server"}')
    assert code == 201, device
    assert device["metadata"]["plugin_processed"] is True  # the filter hook ran on the way in

    def alert_raised():
        _, alerts = stack.curl(*_headers(token, "globex"), f"{stack.base}/api/alerts/")
        items = alerts["results"] if isinstance(alerts, dict) else alerts
        return [a for a in items if a["title"] == "Device Registered"]

    assert _poll(alert_raised), stack.log.read_text()[-3000:]
    code, status = stack.curl(*_headers(token, "globex"), f"{stack.base}/ext/my-plugin/status")
    assert code == 200 and status["devices_tracked"] == 1


def _started_pid(stack, name: str, after: int | None = None) -> int:
    """The pid config/supervise.py last started for ``name`` (other than ``after``)."""
    def found():
        pids = [int(line.rsplit(" ", 1)[1]) for line in stack.log.read_text().splitlines()
                if line[9:].startswith(f"{name:<9} | started with pid ")]
        return pids[-1] if pids and pids[-1] != after else None
    pid = _poll(found, 60)
    assert pid, stack.log.read_text()[-3000:]
    return pid


def test_killing_any_background_process_restarts_it_and_events_are_handled_again(stack, tmp_path):
    """Run last: it kills the worker, beat and the sandbox service with SIGKILL."""
    ready = lambda: stack.curl(f"{stack.base}/readyz")  # noqa: E731
    assert _poll(lambda: ready()[0] == 200, 90), ready()
    for name in ("worker", "beat", "sandbox", "worker"):
        pid = _started_pid(stack, name)
        os.kill(pid, signal.SIGKILL)
        died = f"{name} (pid {pid}) died after"
        assert _poll(lambda died=died: died in stack.log.read_text(), 30), stack.log.read_text()[-3000:]
        assert "signal 9 (SIGKILL); restarting it in" in stack.log.read_text()
        _started_pid(stack, name, after=pid)
    assert _poll(lambda: ready()[0] == 200, 120), ready()

    token = stack.manage("create_tenant", "initech", "--owner", "ops@initech.test").strip().splitlines()[-1]
    plugin = tmp_path / "my-plugin"
    shutil.copytree(FIXTURES / "ops-my-plugin", plugin)
    subprocess.run([str(REPO / ".venv/bin/ops-center-plugin"), "build"], cwd=plugin, check=True, capture_output=True)
    code, body = stack.curl("-X", "POST", f"{stack.base}/api/plugins/upload", *_headers(token, "initech"),
                            "-F", f"file=@{plugin / 'dist' / 'my-plugin-1.0.0.tar.gz'}")
    assert code == 201, body
    stack.curl("-X", "POST", f"{stack.base}/api/plugins/{body['id']}/enable", *_headers(token, "initech"))
    code, _ = stack.curl("-X", "POST", f"{stack.base}/api/devices/", *_headers(token, "initech"),
                         "-H", "Content-Type: application/json", "-d", '{"name": "edge-9", "type": "server"}')
    assert code == 201

    def alert_raised():
        _, alerts = stack.curl(*_headers(token, "initech"), f"{stack.base}/api/alerts/")
        items = alerts["results"] if isinstance(alerts, dict) else alerts
        return [a for a in items if a["title"] == "Device Registered"]

    assert _poll(alert_raised, 90), stack.log.read_text()[-3000:]
