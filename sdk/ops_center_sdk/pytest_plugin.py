"""The guide's pytest fixtures (`plugin`, `mock_api`, `mock_storage`, ...), and `async def` tests.

Enabled by the `pytest11` entry point of the SDK distribution, or with
`pytest -p ops_center_sdk.pytest_plugin`. Host-side only (imports pytest).

The Ops-Center guide's tests are ``@pytest.mark.asyncio async def``: pytest alone fails
them ("async def functions are not natively supported"). This plugin runs any ``async def``
test in a fresh event loop and registers the ``asyncio`` marker, so they pass as printed
with nothing else installed. When pytest-asyncio (or anyio's marker) is present, it steps
aside and lets that plugin run them.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from plugyard_sdk.testing import create_test_plugin


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("asyncio"):
        config.addinivalue_line("markers", "asyncio: an async test, run in its own event loop (plugyard SDK)")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` test to completion; None leaves other tests to pytest."""
    if pyfuncitem.config.pluginmanager.hasplugin("asyncio") or pyfuncitem.get_closest_marker("anyio"):
        return None
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(function(**arguments))
    return True


@pytest.fixture
def plugin() -> Any:
    return create_test_plugin("test-plugin")


@pytest.fixture
def mock_api(plugin: Any) -> Any:
    return plugin.api


@pytest.fixture
def mock_storage(plugin: Any) -> Any:
    return plugin.storage


@pytest.fixture
def mock_scheduler(plugin: Any) -> Any:
    return plugin.scheduler


@pytest.fixture
def mock_config(plugin: Any) -> Any:
    return plugin.config


@pytest.fixture
def mock_logger(plugin: Any) -> Any:
    return plugin.logger
