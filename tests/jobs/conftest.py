from __future__ import annotations

import pytest

from tests.jobs.support import plugin_zip


@pytest.fixture
def lab_zip() -> bytes:
    return plugin_zip("jobs-lab")
