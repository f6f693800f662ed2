"""Supervisor behaviour: layers and strict mode, deadlines, replacement, LRU, threads, fork."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from plugins_core.sandbox import DictBridge, Invocation, SandboxPolicy, Supervisor, get_supervisor

from .conftest import call, make_plugin

HOOK = 'from src.ext.sdk import hook\n\n@hook("ping")\ndef ping(ctx, data):\n    return data\n'
OPS = '''from ops_center_sdk import Plugin
import asyncio
plugin = Plugin(id="s", name="S", version="1.0.0")

@plugin.hook("device.created")
async def store(device_id, secret):
    await asyncio.sleep(0.01)
    await plugin.storage.set("k", secret)

@plugin.route("/get", methods=["GET"])
async def get():
    return {"k": await plugin.storage.get("k")}
'''


def test_layers_are_reported(supervisor) -> None:
    layers = supervisor.layers()
    assert set(layers) == {"process", "namespaces", "rlimits", "seccomp", "import_allowlist", "audit_hooks"}
    assert layers["process"] and layers["import_allowlist"]


def test_fallback_without_bwrap_and_seccomp_still_runs_and_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PLUGYARD_SANDBOX_STRICT", raising=False)  # CI runs strict; this is the lenient path
    sup = Supervisor(SandboxPolicy(use_bwrap=False, use_seccomp=False))
    try:
        assert sup.layers()["namespaces"] is False and sup.layers()["seccomp"] is False
        plugin = make_plugin(tmp_path / "p", {"main.py": HOOK + "\nimport random\n"})
        assert call(sup, plugin, "hook", "ping", {"a": 1}).value == {"a": 1}
        bad = make_plugin(tmp_path / "bad", {"main.py": 'from src.ext.sdk import hook\nimport os\n'})
        assert "not allowed" in call(sup, bad, "hook", "ping", {}).error
    finally:
        sup.close()


def test_strict_mode_refuses_when_a_layer_is_missing(tmp_path: Path, monkeypatch) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": HOOK})
    sup = Supervisor(SandboxPolicy(use_bwrap=False, strict=True))
    result = call(sup, plugin, "hook", "ping", {})
    assert result.status == "error" and result.error_type == "SandboxUnavailable"
    assert "namespaces" in result.error
    assert not sup.inspect(plugin, "main.py").ok
    monkeypatch.setenv("PLUGYARD_SANDBOX_STRICT", "true")
    assert SandboxPolicy.from_env().strict is True
    env_sup = Supervisor(SandboxPolicy(use_seccomp=False))
    assert call(env_sup, plugin, "hook", "ping", {}).error_type == "SandboxUnavailable"


def test_policy_defaults_and_overrides() -> None:
    policy = SandboxPolicy.from_mapping({})
    assert (policy.hook_timeout_s, policy.job_timeout_s, policy.memory_mb) == (5.0, 30.0, 100)
    assert "json" in policy.import_allowlist and "os" not in policy.import_allowlist
    assert policy.with_overrides(job_timeout_s=60).timeout_for("job") == 60
    with pytest.raises(ValueError):
        policy.with_overrides(no_such_thing=1)


def test_crashed_worker_is_replaced(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": HOOK})
    assert call(supervisor, plugin, "hook", "ping", 1, installation="victim").status == "ok"
    pid = supervisor.stats()["worker_pids"][f"{plugin}|victim"]
    os.kill(pid, 9)
    for _ in range(200):  # wait until it is really gone (a crash *during* a call is reported as "crash")
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.01)
    assert call(supervisor, plugin, "hook", "ping", 2, installation="victim").value == 2
    assert supervisor.stats()["worker_pids"][f"{plugin}|victim"] != pid


def test_job_deadline_is_longer_than_hook_deadline(tmp_path: Path) -> None:
    src = ('from src.ext.sdk import hook, job\nimport time\n\n@hook("slow")\ndef h(ctx, d):\n    time.sleep(1.5)\n'
           '\n@job("slow")\ndef j(ctx):\n    time.sleep(1.5)\n    return "done"\n')
    plugin = make_plugin(tmp_path / "p", {"main.py": src})
    sup = Supervisor(SandboxPolicy(hook_timeout_s=1.0, job_timeout_s=3.0))
    try:
        assert call(sup, plugin, "hook", "slow", {}).status == "timeout"
        assert call(sup, plugin, "job", "slow").value == "done"
    finally:
        sup.close()


def test_lru_caps_warm_workers(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": HOOK})
    sup = Supervisor(SandboxPolicy(max_workers=2))
    try:
        for n in range(4):
            assert call(sup, plugin, "hook", "ping", n, installation=f"i{n}").status == "ok"
        assert sup.stats()["workers"] == 2
        assert call(sup, plugin, "hook", "ping", 9, installation="i0").status == "ok"  # evicted one comes back
    finally:
        sup.close()


def test_storage_is_per_installation_and_asyncio_works(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": OPS})
    a, b = DictBridge(), DictBridge()
    assert call(supervisor, plugin, "hook", "device.created", {"device_id": "d", "secret": "A"}, bridge=a,
                installation="a").status == "ok"
    assert call(supervisor, plugin, "route", "/get", bridge=b, installation="b").value["body"] == {"k": None}
    assert call(supervisor, plugin, "route", "/get", bridge=a, installation="a").value["body"] == {"k": "A"}


def test_thread_safe_under_concurrency(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": HOOK})
    failures: list = []

    def worker(n: int) -> None:
        for i in range(15):
            r = call(supervisor, plugin, "hook", "ping", [n, i], installation=f"t{n % 4}")
            if r.status != "ok" or r.value != [n, i]:
                failures.append(r)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


RPC_HOOK = (
    'from src.ext.sdk import hook\n\n@hook("ping")\ndef ping(ctx, data):\n'
    '    return [data, [ctx.secrets.get("K") for _ in range(3)]]\n'
)


def test_many_threads_on_one_installation_while_versions_are_evicted(tmp_path: Path) -> None:
    """Regression: a thread must never close or probe a worker's socket another thread is using.

    Many threads share one installation's warm worker (as gunicorn's gthread workers do),
    its handler talks to the host mid-call, and other plugin versions keep pushing zygotes
    out of a one-zygote LRU at the same time.
    """
    from plugins_core.sandbox import DictBridge

    sup = Supervisor(SandboxPolicy(max_zygotes=2))
    shared = make_plugin(tmp_path / "shared", {"main.py": RPC_HOOK})
    others = [make_plugin(tmp_path / f"other{n}", {"main.py": HOOK}) for n in range(3)]
    failures: list = []

    def busy(n: int) -> None:
        for i in range(25):
            r = call(sup, shared, "hook", "ping", [n, i], bridge=DictBridge(secrets={"K": "v"}), installation="one")
            if r.status != "ok" or r.value != [[n, i], ["v", "v", "v"]]:
                failures.append((r.status, r.error))

    def churn() -> None:
        for i in range(12):
            call(sup, others[i % 3], "hook", "ping", i, installation=f"o{i}")

    threads = [threading.Thread(target=busy, args=(n,)) for n in range(6)] + [threading.Thread(target=churn)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sup.close()
    # The shared version can be evicted by the churn; a call in flight then may crash, but
    # never with a protocol or descriptor error, and never with another call's answer.
    def benign(failure) -> bool:
        status, error = failure
        return status == "crash" and ("died" in error or "kept alive" in error)

    assert [f for f in failures if not benign(f)] == []


def test_get_supervisor_is_not_inherited_across_fork() -> None:
    parent = get_supervisor()
    pid = os.fork()
    if pid == 0:  # a Celery prefork child
        child = get_supervisor()
        os._exit(0 if child is not parent and child._pid == os.getpid() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert get_supervisor() is parent


def test_inspect_reports_syntax_error_with_file_and_line(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": "from helpers import x\n", "helpers.py": "x = (\n"})
    report = supervisor.inspect(plugin, "main.py")
    assert not report.ok
    assert report.errors[0]["file"] == "helpers.py" and report.errors[0]["line"] == 1
    assert "/work/" not in str(report.errors)


def test_plugin_exception_traceback_has_only_plugin_frames(supervisor, tmp_path: Path) -> None:
    src = HOOK + '\n\n@hook("boom")\ndef boom(ctx, data):\n    return helper()\n\ndef helper():\n    raise ValueError("nope")\n'
    plugin = make_plugin(tmp_path / "p", {"main.py": src})
    r = call(supervisor, plugin, "hook", "boom", {})
    assert r.status == "error" and r.error == "ValueError: nope"
    assert r.traceback.count('File "main.py"') == 2 and r.location == {"file": "main.py", "line": 13}
    for leak in ("/work", "/root", "_pyard_rt", "plugyard_sdk", "worker.py"):
        assert leak not in r.traceback


def test_unknown_invocation_targets_are_not_found(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": HOOK})
    assert call(supervisor, plugin, "hook", "never.fired", {}).error_type == "NotFound"
    assert call(supervisor, plugin, "job", "nope").error_type == "NotFound"
    assert supervisor.invoke(Invocation("v", plugin, "main.py", "i", "transform", "x.py#f"), None).error_type == "NotFound"
