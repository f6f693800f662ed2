"""The host side of the sandbox against hostile workers, each defence with its control.

The attacks are the routes of `tests/integration/plugins/hostile` (run end to end through
gunicorn in `tests/integration/test_hostile_plugins.py`). Here each runs on a supervisor
in this process, once with the defence and once with it switched off, to show that the
defence — not luck — is what holds.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from plugins_core.sandbox import SandboxPolicy, Supervisor, processes
from plugins_core.sandbox.runtime import protocol

from .conftest import call

HOSTILE = Path(__file__).resolve().parents[1] / "integration" / "plugins" / "hostile"
DEADLINE = 1.0


@pytest.fixture
def sup(monkeypatch):
    monkeypatch.delenv("PLUGYARD_SANDBOX_STRICT", raising=False)
    supervisor = Supervisor(SandboxPolicy(hook_timeout_s=DEADLINE))
    yield supervisor
    supervisor.close()


def _route(sup: Supervisor, path: str, installation: str = "inst-hostile"):
    context = {"request": {"method": "GET", "path": path, "query": {}, "headers": {}, "body": ""}}
    return call(sup, HOSTILE, "route", path, None, installation=installation, context=context, version="hostile@1")


def _worker_pid(sup: Supervisor, installation: str) -> int:
    (pid,) = [pid for key, pid in sup.stats()["worker_pids"].items() if key.endswith("|" + installation)]
    return pid


def _state_and_ticks(pid: int) -> tuple[str, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return fields[0], int(fields[11]) + int(fields[12])


def test_a_worker_that_never_reads_is_killed_at_the_deadline(sup):
    started = time.monotonic()
    result = _route(sup, "/never-reads")
    assert result.status == "timeout" and time.monotonic() - started < DEADLINE + 1.0, result
    assert _route(sup, "/nan", installation="inst-next").status == "error"  # the host serves the next call


def test_control_with_blocking_writes_the_host_is_stuck_past_the_deadline(sup, monkeypatch):
    original = protocol.write_frame

    def blocking_write(fd, message, *, max_size=None, deadline=None):  # the old write: no deadline
        os.set_blocking(fd, True)
        try:
            original(fd, message, max_size=max_size)
        finally:
            os.set_blocking(fd, False)

    monkeypatch.setattr(processes.protocol, "write_frame", blocking_write)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (_route(sup, "/never-reads"), done.set()), daemon=True)
    thread.start()
    assert not done.wait(DEADLINE + 3.0), "the attack should hold the host past its deadline without the defence"
    sup.evict()  # kill the worker: the stuck write fails and the thread ends
    assert done.wait(10)


def _stopped(pid: int, within: float = 2.0) -> str:
    """The worker's state once SIGSTOP has landed (the signal is delivered asynchronously)."""
    deadline = time.monotonic() + within
    while (state := _state_and_ticks(pid)[0]) != "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    return state


def test_a_worker_that_answered_is_stopped_until_its_next_call(sup):
    result = _route(sup, "/answer-then-spin")
    assert result.status == "ok" and result.value == {"answered": True}
    pid = _worker_pid(sup, "inst-hostile")
    _stopped(pid)
    state, before = _state_and_ticks(pid)
    time.sleep(0.5)
    state_after, after = _state_and_ticks(pid)
    assert state == state_after == "T" and after == before


def test_control_without_the_stop_the_answered_worker_keeps_burning_cpu(sup, monkeypatch):
    monkeypatch.setattr(processes.WorkerProcess, "pause", lambda self: None)
    assert _route(sup, "/answer-then-spin").status == "ok"
    pid = _worker_pid(sup, "inst-hostile")
    _, before = _state_and_ticks(pid)
    time.sleep(0.5)
    _, after = _state_and_ticks(pid)
    assert after > before  # CPU no call pays for
    sup.evict()


def test_cpu_and_memory_are_the_hosts_measure_not_the_workers_word(sup):
    result = _route(sup, "/nan")
    worker = next(iter(sup._workers.values()))
    cpu, peak_kb = worker.usage()
    assert worker.cpu_s == pytest.approx(cpu, abs=0.05) and result.peak_rss_kb > 0
    assert peak_kb >= result.peak_rss_kb


def test_a_hand_written_nan_frame_is_a_crash_of_that_worker(sup):
    result = _route(sup, "/raw-nan")
    assert result.status == "crash" and "NaN is not JSON" in (result.error or ""), result


def test_control_without_the_nan_refusal_the_host_takes_a_value_it_cannot_store(sup, monkeypatch):
    monkeypatch.setattr(protocol, "_refuse_constant", float)  # the decoder takes NaN ...
    monkeypatch.setattr(protocol, "check_value", lambda value, **limits: None)  # ... and so does the check
    result = _route(sup, "/raw-nan")
    assert result.status == "ok" and result.value != result.value  # NaN: json.dumps and jsonb refuse it later
    sup.evict()


@pytest.mark.parametrize("path", ["/nested", "/nan"])
def test_results_no_json_can_carry_are_the_plugins_error(sup, path):
    result = _route(sup, path)
    assert result.status == "error" and result.error_type == "BadResult", result


def test_a_flood_of_host_calls_ends_at_the_deadline(sup):
    started = time.monotonic()
    result = _route(sup, "/flood")
    assert result.status == "timeout" and time.monotonic() - started < DEADLINE + 1.0
    assert result.rpc_calls == 0  # a killed call's counts are not trusted either


def test_frames_are_checked_as_hostile_input():
    deep = b"[" * 100 + b"]" * 100
    for body in (b'{"a":NaN}', b'{"a":-Infinity}', deep, b'"' + b"x" * (protocol.MAX_STRING + 1) + b'"', b"\xff"):
        with pytest.raises(protocol.BadFrame):
            protocol.decode(body)
    with pytest.raises(protocol.BadFrame):
        protocol.encode({"a": float("inf")})
    assert protocol.decode(b'{"a":[1,2,{"b":"c"}]}') == {"a": [1, 2, {"b": "c"}]}
