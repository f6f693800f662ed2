"""Tenant files: paths confined to the tenant's folder, text and bytes, the size cap, events."""
from __future__ import annotations

import base64

import pytest
from django.core.files.storage import default_storage

from plugins_core.events.models import Event
from plugins_core.host.errors import BadArguments, QuotaExceeded, Refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def bridge(acme, make_installation, bridge_for):
    return bridge_for(make_installation(acme, permissions=["files.read", "files.write"]))


def call(bridge, method, **args):
    return bridge.call(method, args)


def test_upload_list_read_delete(acme, bridge):
    assert call(bridge, "files.upload", path="reports/daily.json", content='{"ok": true}')["size"] == 12
    call(bridge, "files.upload", path="reports/2024/jan.csv", content="a,b")
    call(bridge, "files.upload", path="uploads/logo.png", base64=base64.b64encode(b"\x89PNG\x00\xff").decode())
    assert default_storage.exists(f"tenant-files/{acme.pk}/reports/daily.json")
    assert call(bridge, "files.list", prefix="reports/") == ["reports/2024/jan.csv", "reports/daily.json"]
    assert call(bridge, "files.list", prefix="rep") == ["reports/2024/jan.csv", "reports/daily.json"]
    assert call(bridge, "files.list") == ["reports/2024/jan.csv", "reports/daily.json", "uploads/logo.png"]
    assert call(bridge, "files.read", path="reports/daily.json") == '{"ok": true}'
    assert call(bridge, "files.read", path="./reports//daily.json") == '{"ok": true}'
    assert base64.b64decode(call(bridge, "files.read", path="uploads/logo.png")["base64"]) == b"\x89PNG\x00\xff"
    assert call(bridge, "files.read", path="nope.txt") is None
    call(bridge, "files.upload", path="reports/daily.json", content="replaced")
    assert call(bridge, "files.read", path="reports/daily.json") == "replaced"
    assert call(bridge, "files.delete", path="reports/daily.json") is True
    assert call(bridge, "files.delete", path="reports/daily.json") is False
    types = list(Event.objects.filter(tenant=acme).values_list("type", flat=True))
    assert types.count("files.uploaded") == 4 and types.count("files.deleted") == 1


@pytest.mark.parametrize(("path", "reason"), [
    ("../x.txt", "climbs out"),
    ("a/../../x.txt", "climbs out"),
    ("/etc/passwd", "absolute"),
    ("a\\..\\x", "'/'"),
    ("a\x00b", "control"),
    ("C:/x", "drive"),
    ("x" * 600, "longer"),
])
def test_paths_that_could_leave_the_tenants_folder_are_refused(bridge, path, reason):
    for method, extra in (("files.read", {}), ("files.upload", {"content": "x"}), ("files.delete", {})):
        with pytest.raises(Refused, match=reason):
            call(bridge, method, path=path, **extra)
    with pytest.raises(Refused):
        call(bridge, "files.list", prefix=path)


def test_bad_uploads(bridge, settings):
    with pytest.raises(BadArguments, match="either"):
        call(bridge, "files.upload", path="a.txt")
    with pytest.raises(BadArguments, match="not valid base64"):
        call(bridge, "files.upload", path="a.bin", base64="***")
    with pytest.raises(BadArguments, match="empty"):
        call(bridge, "files.upload", path="./", content="x")
    settings.PLUGYARD_FILES = {**settings.PLUGYARD_FILES, "max_file_bytes": 10}
    with pytest.raises(QuotaExceeded, match="the limit is 10 bytes"):
        call(bridge, "files.upload", path="big.txt", content="x" * 11)
