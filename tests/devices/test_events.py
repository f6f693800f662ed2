"""The demo domain declares its own events, through the public host API, like any product."""
from devices.events import EVENTS
from plugins_core.events import catalog


def test_device_events_are_registered_by_the_domain_not_built_into_the_host():
    built_in = {spec.name for spec in catalog._BUILT_IN}
    assert not any(name.startswith(("device.", "alert.")) for name in built_in)
    for spec in EVENTS:  # registered by DevicesConfig.ready() with host_api.register_event
        assert catalog.get_event(spec.name) == spec
    assert catalog.get_event("device.data.process").kind == "filter"
