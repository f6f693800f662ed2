"""Integration fixtures: real Celery worker(s) and beat against this session's database and
broker (see harness.py for how the subprocesses share them)."""
from __future__ import annotations

import pytest

from tests.integration import harness


def pytest_configure(config):
    harness.configure_session()


def pytest_unconfigure(config):
    harness.unconfigure_session()


@pytest.fixture(autouse=True)
def _isolated_storage(settings):
    """Packages and unpacked plugins in directories the subprocesses share (not per test)."""
    s = harness.session()
    settings.MEDIA_ROOT = s.media
    settings.PLUGYARD_PLUGIN_ROOT = s.plugins


@pytest.fixture
def start_worker(transactional_db):
    started: list[harness.Process] = []

    def start(name: str = "worker", concurrency: int = 2, broker_url: str | None = None, **env: str) -> harness.Process:
        process = harness.celery("worker", "--concurrency", str(concurrency), "-n", f"{name}@%h", name=name,
                                 broker_url=broker_url, **env)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()
        print(f"----- {process.name} log -----\n{process.output()[-60000:]}")  # shown when a test fails


@pytest.fixture
def start_beat(transactional_db):
    started: list[harness.Process] = []

    def start(broker_url: str | None = None, **env: str) -> harness.Process:
        from plugins_core.jobs.beat import install_sweeps

        install_sweeps({"plugyard: fire due scheduler tasks": 2, "plugyard: recover job runs": 5,
                        "plugyard: dispatch pending events": 5, "plugyard: recover stalled invocations": 3,
                        "plugyard: worker heartbeat": 2})
        process = harness.celery("beat", name="beat", broker_url=broker_url, **env)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()
        print(f"----- {process.name} log -----\n{process.output()[-60000:]}")  # shown when a test fails
