"""Tenant isolation: nothing of globex is reachable from an acme installation, by any ctx route."""
from __future__ import annotations

import pytest

from devices.models import Alert, Device
from plugins_core.host import storage
from plugins_core.host.errors import BadArguments, NotFound, Refused
from plugins_core.host.models import PluginStorageItem, WebhookSubscription
from plugins_core.secrets import set_secret

pytestmark = pytest.mark.django_db

EVERYTHING = ["db.read", "db.write", "files.read", "files.write", "devices.read", "devices.write", "alerts.read",
              "alerts.write", "users.read", "organizations.read", "webhooks.read", "webhooks.write"]


@pytest.fixture
def world(acme, globex, make_installation, bridge_for, make_actor):
    """Two tenants with the same kinds of data; returns (acme's bridge, globex's bridge, globex's rows)."""
    ours = bridge_for(make_installation(acme, permissions=EVERYTHING))
    theirs = bridge_for(make_installation(globex, permissions=EVERYTHING))
    victim_user = make_actor("globex", "member").membership.user
    device = Device.objects.create(tenant=globex, name="globex-router")
    alert = Alert.objects.create(tenant=globex, device=device, title="globex alert")
    hook = WebhookSubscription.objects.create(tenant=globex, url="https://globex.test/h", events=["device.created"])
    theirs.call("files.upload", {"path": "reports/secret.txt", "content": "globex only"})
    theirs.call("storage.set", {"key": "device:1", "value": {"owner": "globex"}})
    set_secret(theirs.installation, "API_KEY", "globex-secret")
    return ours, theirs, {"devices": device.pk, "alerts": alert.pk, "webhooks": hook.pk,
                          "users": victim_user.pk, "organizations": globex.pk}


RESOURCES = ["devices", "alerts", "webhooks", "users", "organizations"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_reads_never_see_another_tenants_rows(world, resource):
    ours, _, ids = world
    victim = ids[resource]
    assert ours.call("db.get_by_id", {"table": resource, "id": victim}) is None
    assert ours.call("api.call", {"resource": resource, "action": "get", "id": victim}) is None
    assert victim not in [r["id"] for r in ours.call("db.query", {"table": resource, "limit": 1000})]
    assert ours.call("db.query", {"table": resource, "filters": {"id": victim}}) == []
    assert victim not in [r["id"] for r in ours.call("api.call", {"resource": resource, "action": "list"})]


@pytest.mark.parametrize("resource", ["devices", "alerts", "webhooks"])
def test_writes_never_reach_another_tenants_rows(world, resource):
    ours, _, ids = world
    victim = ids[resource]
    data = {"devices": {"name": "pwned"}, "alerts": {"title": "pwned"}, "webhooks": {"description": "pwned"}}[resource]
    with pytest.raises(NotFound):
        ours.call("db.update", {"table": resource, "id": victim, "data": data})
    with pytest.raises(NotFound):
        ours.call("api.call", {"resource": resource, "action": "update", "id": victim, "data": data})
    with pytest.raises(NotFound):
        ours.call("api.call", {"resource": resource, "action": "delete", "id": victim})
    if resource == "alerts":
        with pytest.raises(NotFound):
            ours.call("api.call", {"resource": "alerts", "action": "acknowledge", "id": victim})
    model = {"devices": Device, "alerts": Alert, "webhooks": WebhookSubscription}[resource]
    row = model.objects.get(pk=victim)
    assert "pwned" not in str(vars(row))


def test_an_alert_cannot_point_at_another_tenants_device(world):
    ours, _, ids = world
    with pytest.raises(BadArguments, match="device_id"):
        ours.call("api.call", {"resource": "alerts", "action": "create",
                               "data": {"device_id": ids["devices"], "title": "x"}})
    mine = ours.call("api.call", {"resource": "alerts", "action": "create", "data": {"title": "mine"}})
    with pytest.raises(BadArguments, match="device_id"):
        ours.call("db.update", {"table": "alerts", "id": mine["id"], "data": {"device_id": ids["devices"]}})


@pytest.mark.parametrize("path", ["reports/secret.txt", "../{gid}/reports/secret.txt", "/tenant-files/{gid}/reports/secret.txt",
                                  "reports/../../{gid}/reports/secret.txt", "..\\{gid}\\reports\\secret.txt"])
def test_files_never_reach_another_tenants_storage(world, globex, path):
    ours, theirs, _ = world
    path = path.format(gid=globex.pk)
    assert ours.call("files.list", {"prefix": ""}) == []
    try:
        assert ours.call("files.read", {"path": path}) is None
    except (Refused, BadArguments):
        pass
    with pytest.raises((Refused, BadArguments)) if path != "reports/secret.txt" else _nothing():
        ours.call("files.delete", {"path": path})
    assert theirs.call("files.read", {"path": "reports/secret.txt"}) == "globex only"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_storage_is_per_installation(world, acme, make_installation, bridge_for):
    ours, theirs, _ = world
    sibling = bridge_for(make_installation(acme))
    sibling.call("storage.set", {"key": "device:1", "value": "sibling"})
    assert ours.call("storage.get", {"key": "device:1"}) is None
    assert ours.call("storage.exists", {"key": "device:1"}) is False
    assert ours.call("storage.list_keys", {"pattern": "*"}) == []
    assert ours.call("storage.delete", {"key": "device:1"}) is False
    ours.call("storage.clear", {})
    assert theirs.call("storage.get", {"key": "device:1"}) == {"owner": "globex"}
    assert sibling.call("storage.get", {"key": "device:1"}) == "sibling"
    assert PluginStorageItem.objects.count() == 2
    assert storage.get(theirs.installation, "device:1") == {"owner": "globex"}


def test_secrets_and_config_are_the_installations_own(world):
    ours, theirs, _ = world
    assert ours.call("secrets.get", {"name": "API_KEY"}) is None
    theirs.installation.config = {"token": "globex"}
    theirs.installation.save()
    assert ours.call("config.get", {}) == {}
