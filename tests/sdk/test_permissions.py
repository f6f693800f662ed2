"""Permissions: both guides' spellings normalise to one canonical, dotted form."""

from __future__ import annotations

import pytest
from plugyard_sdk.permissions import (
    ALL_PERMISSIONS,
    UnknownPermission,
    describe_permission,
    normalise_permission,
    normalise_permissions,
)

SBH = [
    "db.read",
    "db.write",
    "files.read",
    "files.write",
    "outbound_http",
    "send_email",
    "emit_webhook",
    "llm.use",
]
OPS = [
    "devices:read", "devices:write", "alerts:read", "alerts:write", "users:read", "users:write",
    "organizations:read", "webhooks:read", "webhooks:write", "storage", "scheduler",
]  # fmt: skip


@pytest.mark.parametrize("name", SBH)
def test_sbh_names_are_canonical(name: str) -> None:
    assert normalise_permission(name) == name


@pytest.mark.parametrize("name", OPS)
def test_ops_center_colon_names_become_dotted(name: str) -> None:
    assert normalise_permission(name) == name.replace(":", ".")


def test_dotted_and_colon_spellings_agree() -> None:
    assert (
        normalise_permission("devices.read")
        == normalise_permission("devices:read")
        == "devices.read"
    )
    assert normalise_permission(" DB:READ ") == "db.read"


@pytest.mark.parametrize("name", ["db.admin", "devices:delete", "", "db", "os.system", 5])
def test_unknown_permission_lists_the_valid_ones(name: object) -> None:
    with pytest.raises(UnknownPermission) as info:
        normalise_permission(name)  # type: ignore[arg-type]
    assert "db.read" in str(info.value) and "devices.read" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_every_permission_has_a_one_line_description() -> None:
    assert set(SBH) | {n.replace(":", ".") for n in OPS} <= set(ALL_PERMISSIONS)
    for name, description in ALL_PERMISSIONS.items():
        assert description and "\n" not in description, name
    assert describe_permission("alerts:write") == ALL_PERMISSIONS["alerts.write"]


def test_normalise_permissions_keeps_order_and_drops_repeats() -> None:
    assert normalise_permissions(["db:read", "storage", "db.read"]) == ["db.read", "storage"]


def test_all_permissions_is_read_only() -> None:
    with pytest.raises(TypeError):
        ALL_PERMISSIONS["root"] = "everything"  # type: ignore[index]
