"""Fault fixtures: the integration harness's real worker and beat subprocesses."""
from __future__ import annotations

from tests.integration import harness
from tests.integration.conftest import _isolated_storage, start_beat, start_worker  # noqa: F401


def pytest_configure(config):
    harness.configure_session()


def pytest_unconfigure(config):
    harness.unconfigure_session()
