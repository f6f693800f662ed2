"""`ops_center_sdk.testing` — mocks and helpers exactly as the Ops-Center guide's Testing uses them."""

from plugyard_sdk.testing import (
    MockAPIClient,
    MockConfig,
    MockLogger,
    MockScheduler,
    MockStorage,
    call_route,
    create_test_plugin,
    trigger_filter,
    trigger_hook,
    use_mocks,
)

__all__ = [
    "MockAPIClient", "MockConfig", "MockLogger", "MockScheduler", "MockStorage",
    "call_route", "create_test_plugin", "trigger_filter", "trigger_hook", "use_mocks",
]
