"""Hostile plugins against the host side of the sandbox, through the public API, real processes.

A tenant ("attacker") uploads a plugin whose routes and hooks attack the host: a worker
that never reads its socket, one that answers and then spins, one that floods host calls,
results no JSON can carry (deep nesting, NaN, a hand-written NaN frame). Real gunicorn (as
the Procfile runs it), the real sandbox service and a real Celery worker. Given each
attack, then: the host answered within the call's deadline (plus the caller's margin),
`/healthz` kept answering, the other tenant's route and hook kept working, and the outcome
was recorded. Latency ratios against a quiet run are measured in bench/, not asserted here.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from devices import services as devices
from plugins_core.models import Invocation, InvocationStatus
from plugins_core.sandbox import SandboxClient
from tests.conftest import make_zip
from tests.integration import harness
from tests.integration.harness import wait_for
from tests.jobs.support import install

pytestmark = [pytest.mark.integration]

PLUGINS = Path(__file__).parent / "plugins"
DEADLINE_S = 2  # the web's and worker's hook/route deadline in this module
# deadline + the caller's margin (1 s) + room for a loaded 2-CPU machine to schedule us
ANSWERED_WITHIN_S = DEADLINE_S + 1 + 3


def _zip(name: str) -> bytes:
    root = PLUGINS / name
    return make_zip({p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()})


@pytest.fixture
def web(transactional_db):
    port = harness.free_port()
    process = harness.web(port, PLUGYARD_SANDBOX_HOOK_TIMEOUT=str(DEADLINE_S)).start()
    yield f"http://127.0.0.1:{port}"
    process.stop()
    print(f"----- web log -----\n{process.output()[-20000:]}")


@pytest.fixture
def tenants(make_actor, settings):
    settings.PLUGYARD_SANDBOX = {**settings.PLUGYARD_SANDBOX, "hook_timeout_s": DEADLINE_S}
    attacker, neighbour = make_actor("attacker", "owner"), make_actor("neighbour", "owner")
    return (attacker, install(attacker, _zip("hostile"))), (neighbour, install(neighbour, _zip("quiet")))


def _get(base: str, actor, path: str) -> tuple[int, float]:
    headers = {"Authorization": f"Bearer {actor.token}", "X-Tenant-Slug": actor.tenant.slug}
    started = time.monotonic()
    response = requests.get(base + path, headers=headers, timeout=30)
    return response.status_code, time.monotonic() - started


class Watch:
    """Polls `/healthz` and the neighbour's route in the background while an attack runs."""

    def __init__(self, base: str, neighbour) -> None:
        self.base, self.neighbour = base, neighbour
        self.health: list[tuple[int, float]] = []
        self.route: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, args=(self._health, self.health)),
                         threading.Thread(target=self._poll, args=(self._route, self.route))]

    def _health(self) -> tuple[int, float]:
        started = time.monotonic()
        try:
            return requests.get(self.base + "/healthz", timeout=10).status_code, time.monotonic() - started
        except requests.RequestException:
            return 0, time.monotonic() - started

    def _route(self) -> tuple[int, float]:
        return _get(self.base, self.neighbour, "/ext/quiet/hello")

    def _poll(self, probe, into) -> None:
        while not self._stop.is_set():
            into.append(probe())
            time.sleep(0.05)

    def __enter__(self) -> Watch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def _route_outcomes(installation, path: str) -> list[str]:
    handler = path.strip("/").replace("-", "_")  # each route's function is named for its path
    return list(Invocation.objects.filter(installation=installation, kind="route", name=handler)
                .values_list("status", flat=True))


@pytest.mark.parametrize("path, answers, recorded", [
    ("/never-reads", {504}, InvocationStatus.TIMEOUT),
    ("/flood", {504}, InvocationStatus.TIMEOUT),
    ("/answer-then-spin", {200}, InvocationStatus.OK),
    ("/nested", {502}, InvocationStatus.ERROR),
    ("/nan", {502}, InvocationStatus.ERROR),
    ("/raw-nan", {502}, InvocationStatus.CRASH),
])
def test_a_hostile_route_is_answered_within_its_deadline(web, tenants, path, answers, recorded):
    (attacker, hostile), (neighbour, _quiet) = tenants
    with Watch(web, neighbour) as watch:
        status, elapsed = _get(web, attacker, "/ext/hostile" + path)
    assert status in answers and elapsed < ANSWERED_WITHIN_S, (status, elapsed)
    assert _route_outcomes(hostile, path) == [recorded]
    assert watch.health and all(code == 200 for code, _ in watch.health)
    assert watch.route and all(code == 200 for code, _ in watch.route)


def test_a_worker_that_answered_is_stopped_and_measured_by_the_host(web, tenants):
    (attacker, hostile), _ = tenants
    status, _elapsed = _get(web, attacker, "/ext/hostile/answer-then-spin")
    assert status == 200
    pids = [pid for key, pid in SandboxClient().stats()["worker_pids"].items() if key.endswith(f"|{hostile.pk}:{hostile.version_id}")]
    assert len(pids) == 1

    def state_and_cpu(pid: int) -> tuple[str, int]:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return fields[0], int(fields[11]) + int(fields[12])

    deadline = time.monotonic() + 2  # SIGSTOP lands asynchronously
    while state_and_cpu(pids[0])[0] != "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    state, cpu_before = state_and_cpu(pids[0])
    time.sleep(1.0)
    state_after, cpu_after = state_and_cpu(pids[0])
    assert state == state_after == "T"  # SIGSTOPped since its answer
    assert cpu_after == cpu_before  # not one tick of CPU after it answered


def test_sixteen_never_reading_routes_stall_neither_the_web_nor_the_neighbour(web, tenants):
    (attacker, hostile), (neighbour, _quiet) = tenants
    results: list[tuple[int, float]] = []

    def attack() -> None:
        results.append(_get(web, attacker, "/ext/hostile/never-reads"))

    with Watch(web, neighbour) as watch:
        threads = [threading.Thread(target=attack) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 16
    # One runs to its deadline; the tenant's budget answers the rest 429 without waiting for it.
    assert {code for code, _ in results} <= {504, 429} and 504 in {code for code, _ in results}, results
    assert max(elapsed for _, elapsed in results) < ANSWERED_WITHIN_S, results
    assert watch.health and all(code == 200 for code, _ in watch.health), watch.health
    assert watch.route and all(code == 200 for code, _ in watch.route), watch.route


def test_spinning_hooks_delay_only_their_own_tenant(tenants, start_worker):
    (attacker, hostile), (neighbour, quiet) = tenants
    start_worker(concurrency=8, PLUGYARD_SANDBOX_HOOK_TIMEOUT=str(DEADLINE_S))
    for n in range(8):
        devices.create_device(attacker.tenant, {"name": f"spin-{n}", "type": "server"})
    devices.create_device(attacker.tenant, {"name": "nan", "type": "server"})
    time.sleep(0.5)  # the attacker's hooks are spinning now
    devices.create_device(neighbour.tenant, {"name": "quiet-1", "type": "server"})

    neighbours = Invocation.objects.filter(installation=quiet, kind="hook")
    wait_for(lambda: neighbours.filter(status=InvocationStatus.OK).exists(), 60, message="the neighbour's hook")
    attackers = Invocation.objects.filter(installation=hostile, kind="hook")
    # The neighbour's hook finished while the attacker's were still queued behind each other.
    assert attackers.exclude(status__in=[InvocationStatus.TIMEOUT, InvocationStatus.ERROR]).exists()

    wait_for(lambda: attackers.count() == 9 and not attackers.exclude(
        status__in=[InvocationStatus.TIMEOUT, InvocationStatus.ERROR]).exists(), 120, interval=1,
        message="every attacker hook to end")
    spun = attackers.exclude(event__payload__device_data__name="nan")
    assert set(spun.values_list("status", flat=True)) == {InvocationStatus.TIMEOUT}
    nan = attackers.get(event__payload__device_data__name="nan")
    # A NaN result is a recorded error, run once — not a "running" row re-run forever.
    assert nan.status == InvocationStatus.ERROR and nan.attempts == 1
    assert "cannot be sent to the host" in nan.error


def test_killing_the_sandbox_service_mid_burst_loses_no_hook_and_runs_none_twice(tenants, start_worker, tmp_path):
    from tests.sandboxd import SandboxService

    _, (neighbour, quiet) = tenants
    socket_path = f"/tmp/plugyard-kill-{time.monotonic_ns()}.sock"
    service = SandboxService(socket_path).start()
    start_worker(concurrency=4, PLUGYARD_SANDBOX_SOCKET=socket_path)
    try:
        for n in range(40):
            devices.create_device(neighbour.tenant, {"name": f"burst-{n}", "type": "server"})
        hooks = Invocation.objects.filter(installation=quiet, kind="hook")
        wait_for(lambda: hooks.filter(status=InvocationStatus.OK).exists(), 60, interval=0.02,
                 message="the burst to start")
        service.kill()  # kill -9, mid-burst
        time.sleep(1.0)
        service.start()
        wait_for(lambda: hooks.filter(status=InvocationStatus.OK).count() == 40, 120, interval=0.5,
                 message="every hook of the burst to finish")
    finally:
        service.stop()
    assert hooks.count() == 40  # one row per event and handler: none ran to completion twice
    assert set(hooks.values_list("status", flat=True)) == {InvocationStatus.OK}
