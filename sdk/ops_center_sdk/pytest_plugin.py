"""The guide's pytest fixtures (`plugin`, `mock_api`, `mock_storage`, ...).

Enabled by the `pytest11` entry point of the SDK distribution, or with
`pytest -p ops_center_sdk.pytest_plugin`. Host-side only (imports pytest).
"""

from __future__ import annotations

from typing import Any

import pytest
from plugyard_sdk.testing import create_test_plugin


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
