"""The sandbox service and its client: the socket, the relay of ctx calls, failing fast, budgets.

The service runs in a thread of this process here (the suite's other tests use the real
`manage.py sandboxd` subprocess, and `tests/integration` kills it on purpose).
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from plugins_core.sandbox import DictBridge, Invocation, SandboxClient, SandboxPolicy
from plugins_core.sandbox.service import SandboxService

from .conftest import make_plugin

SOURCE = '''
from src.ext.sdk import hook, route

@hook("secret")
def secret(ctx, data):
    return ctx.secrets.get("API_KEY")

@hook("hang")
def hang(ctx, data):
    while True:
        pass

@route("/hello", methods=["GET"])
def hello(ctx):
    return {"hello": ctx.tenant_id}
'''


class Running:
    def __init__(self, path: str, policy: SandboxPolicy) -> None:
        self.service = SandboxService(path, policy)
        self.service.bind()
        self.thread = threading.Thread(target=self.service.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.service.stop()
        self.thread.join(10)


@pytest.fixture
def policy(monkeypatch) -> SandboxPolicy:
    monkeypatch.delenv("PLUGYARD_SANDBOX_STRICT", raising=False)
    return SandboxPolicy(hook_timeout_s=2.0, tenant_concurrency=1, route_queue_s=0.2)


@pytest.fixture
def socket_path() -> str:
    path = f"/tmp/plugyard-svc-{os.getpid()}-{time.monotonic_ns()}.sock"
    yield path
    if os.path.exists(path):
        os.unlink(path)


@pytest.fixture
def running(policy, socket_path):
    service = Running(socket_path, policy)
    yield service
    service.stop()


@pytest.fixture
def plugin(tmp_path) -> Path:
    return make_plugin(tmp_path / "svc", {"main.py": SOURCE})


def _call(plugin: Path, kind: str, name: str, *, tenant: str = "t1", installation: str = "i1", **context) -> Invocation:
    return Invocation(f"svc@{plugin}", plugin, "main.py", installation, kind, name, {},
                      context={"tenant_id": tenant, "installation_id": installation, **context})


def test_the_socket_is_owner_only_and_ctx_calls_come_back_to_the_caller(running, socket_path, policy, plugin):
    assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o600
    client = SandboxClient(policy, socket_path)
    bridge = DictBridge(secrets={"API_KEY": "k-123"})
    result = client.invoke(_call(plugin, "hook", "secret"), bridge)
    assert result.status == "ok" and result.value == "k-123"
    assert bridge.calls == [("secrets.get", {"name": "API_KEY"})]  # answered here, in the caller


def _connect_as(uid: int, path: str) -> bytes:
    """From a child running as ``uid``: connect and send a ping; what came back."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(3)
            sock.connect(path)
            body = b'{"op":"ping"}'
            sock.sendall(len(body).to_bytes(4, "big") + body)
            os.write(write, b"connected:" + sock.recv(100))
        except OSError as exc:
            os.write(write, f"refused:{type(exc).__name__}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    answer = os.read(read, 200)
    os.close(read)
    return answer


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")
def test_another_uid_is_refused_even_with_the_socket_opened_up(running, socket_path, monkeypatch):
    os.chmod(socket_path, 0o666)  # take the first wall away: only the credential check is left
    assert b'"op":"done"' not in _connect_as(65534, socket_path)  # closed unanswered
    monkeypatch.setattr(SandboxService, "_peer_allowed", lambda self, conn: True)  # the control
    assert b'"op":"done"' in _connect_as(65534, socket_path)


def test_a_service_that_is_down_fails_fast_and_callers_reconnect_when_it_is_back(policy, socket_path, plugin):
    client = SandboxClient(policy, socket_path)
    started = time.monotonic()
    result = client.invoke(_call(plugin, "route", "/hello", request={"method": "GET", "path": "/hello"}), None)
    assert result.status == "unavailable" and time.monotonic() - started < 0.5
    assert "manage.py sandboxd" in result.error
    service = Running(socket_path, policy)
    try:
        again = client.invoke(_call(plugin, "route", "/hello", request={"method": "GET", "path": "/hello"}), None)
        assert again.status == "ok" and again.value["body"] == {"hello": "t1"}
    finally:
        service.stop()
    assert client.invoke(_call(plugin, "hook", "secret"), None).status == "unavailable"


def test_a_caller_waits_at_most_its_deadline_plus_the_margin(policy, socket_path, plugin):
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # accepts, never answers
    silent.bind(socket_path)
    silent.listen(8)
    try:
        client = SandboxClient(policy, socket_path)
        started = time.monotonic()
        result = client.invoke(_call(plugin, "hook", "secret", ), None)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert result.status == "timeout" and elapsed < policy.hook_timeout_s + policy.caller_margin_s + 0.5


def test_a_tenant_over_budget_waits_behind_itself_and_never_in_front_of_others(running, socket_path, policy, plugin):
    client = SandboxClient(policy, socket_path)
    hanging = threading.Thread(target=client.invoke, args=(_call(plugin, "hook", "hang"), None))
    hanging.start()
    time.sleep(0.5)  # tenant t1's one slot is taken for 2 s
    request = {"method": "GET", "path": "/hello"}
    started = time.monotonic()
    busy = client.invoke(_call(plugin, "route", "/hello", installation="i2", request=request), None)
    assert busy.status == "busy" and time.monotonic() - started < 1.0  # a 429, not a wait for the hang
    other = client.invoke(_call(plugin, "route", "/hello", tenant="t2", installation="i3", request=request), None)
    assert other.status == "ok" and other.value["body"] == {"hello": "t2"}
    hanging.join(10)
