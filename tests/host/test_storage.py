"""Key-value storage (the Ops-Center guide's methods), its quota, and config.get / config.save."""
from __future__ import annotations

import pytest

from plugins_core.host.errors import BadArguments, QuotaExceeded

pytestmark = pytest.mark.django_db


@pytest.fixture
def bridge(acme, make_installation, bridge_for):
    return bridge_for(make_installation(acme))


def call(bridge, method, **args):
    return bridge.call(method, args)


def test_the_guides_storage_calls(bridge):
    call(bridge, "storage.set", key="key", value={"data": "value"})
    call(bridge, "storage.set", key="counter", value=42)
    assert call(bridge, "storage.get", key="key") == {"data": "value"}
    assert call(bridge, "storage.get", key="missing") is None
    assert call(bridge, "storage.exists", key="counter") is True
    call(bridge, "storage.set", key="counter", value=43)
    assert call(bridge, "storage.get", key="counter") == 43
    for n in (1, 2, 10):
        call(bridge, "storage.set", key=f"device:{n}", value=n)
    call(bridge, "storage.set", key="device:1:last_check", value="now")
    assert call(bridge, "storage.list_keys", pattern="device:*") == sorted(["device:1", "device:1:last_check", "device:10", "device:2"])
    assert call(bridge, "storage.list_keys", pattern="device:?") == ["device:1", "device:2"]
    assert call(bridge, "storage.list_keys", pattern="device:[12]") == ["device:1", "device:2"]
    assert call(bridge, "storage.list_keys", pattern="%") == []  # SQL wildcards mean nothing here
    assert call(bridge, "storage.delete", key="key") is True
    assert call(bridge, "storage.delete", key="key") is False
    call(bridge, "storage.clear")
    assert call(bridge, "storage.list_keys") == []


def test_values_must_be_json_and_keys_sane(bridge):
    with pytest.raises(BadArguments, match="not JSON-serialisable"):
        call(bridge, "storage.set", key="k", value=float("nan"))
    for key in ("", "x" * 256, "a\nb", 5):
        with pytest.raises(BadArguments):
            call(bridge, "storage.set", key=key, value=1)


def test_the_key_quota(bridge, settings):
    settings.PLUGYARD_STORAGE = {**settings.PLUGYARD_STORAGE, "max_keys": 3}
    for n in range(3):
        call(bridge, "storage.set", key=f"k{n}", value=n)
    call(bridge, "storage.set", key="k0", value="replacing is fine")
    with pytest.raises(QuotaExceeded, match="storage holds 3 keys; the limit is 3"):
        call(bridge, "storage.set", key="k3", value=3)
    assert call(bridge, "storage.exists", key="k3") is False


def test_the_byte_quota(bridge, settings):
    settings.PLUGYARD_STORAGE = {**settings.PLUGYARD_STORAGE, "max_bytes": 1000, "max_value_bytes": 600}
    call(bridge, "storage.set", key="a", value="x" * 500)
    with pytest.raises(QuotaExceeded, match="the limit is 1000 bytes per installation"):
        call(bridge, "storage.set", key="b", value="x" * 500)
    with pytest.raises(QuotaExceeded, match="one value may be at most 600 bytes"):
        call(bridge, "storage.set", key="c", value="x" * 700)
    call(bridge, "storage.set", key="a", value="small")  # shrinking frees room
    call(bridge, "storage.set", key="b", value="x" * 500)


SCHEMA = {"type": "object", "properties": {"threshold": {"type": "number", "default": 0.8},
                                           "enabled": {"type": "boolean", "default": True}},
          "additionalProperties": False}


def test_config_get_and_save(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme, config_schema=SCHEMA, config={"threshold": 0.8, "enabled": True}))
    assert call(bridge, "config.get") == {"threshold": 0.8, "enabled": True}
    assert call(bridge, "config.save", values={"threshold": 0.9, "enabled": False}) == {"threshold": 0.9, "enabled": False}
    bridge.installation.refresh_from_db()
    assert bridge.installation.config == {"threshold": 0.9, "enabled": False}


def test_config_save_names_the_bad_key_and_changes_nothing(acme, make_installation, bridge_for):
    bridge = bridge_for(make_installation(acme, config_schema=SCHEMA, config={"threshold": 0.8, "enabled": True}))
    with pytest.raises(BadArguments, match="threshold") as bad:
        call(bridge, "config.save", values={"threshold": "high", "enabled": True})
    assert bad.value.code == "invalid_config"
    with pytest.raises(BadArguments, match="nope"):
        call(bridge, "config.save", values={"threshold": 0.5, "nope": 1})
    bridge.installation.refresh_from_db()
    assert bridge.installation.config == {"threshold": 0.8, "enabled": True}
