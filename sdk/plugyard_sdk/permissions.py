"""Permissions a plugin may ask for, in one canonical spelling.

The SBH guide writes permissions dotted (``db.read``) and the Ops-Center guide with a colon
(``devices:read``). Both are accepted and normalised to the dotted form; names without a
resource/action split (``outbound_http``, ``storage``) are their own canonical form.
Standard library only, so the sandbox and the admin can share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "ALL_PERMISSIONS",
    "UnknownPermission",
    "describe_permission",
    "normalise_permission",
    "normalise_permissions",
]

ALL_PERMISSIONS: Mapping[str, str] = MappingProxyType(
    {
        # SBH guide
        "db.read": "Read rows from the tables the host exposes to plugins.",
        "db.write": "Insert, update and delete rows in the tables the host exposes to plugins.",
        "files.read": "List and read files in the tenant's storage.",
        "files.write": "Upload, replace and delete files in the tenant's storage.",
        "outbound_http": "Make HTTP requests to the domains the plugin is allowed to reach.",
        "send_email": "Send emails through the platform's email service.",
        "emit_webhook": "Send webhook deliveries to external endpoints.",
        "llm.use": "Run prompts through the platform's LLM services.",
        # Ops-Center guide
        "devices.read": "List and read devices.",
        "devices.write": "Create, update and delete devices.",
        "alerts.read": "List and read alerts.",
        "alerts.write": "Create, acknowledge and resolve alerts.",
        "users.read": "List and read the tenant's users.",
        "users.write": "Update the tenant's users.",
        "organizations.read": "List and read organizations.",
        "webhooks.read": "List the tenant's webhook subscriptions.",
        "webhooks.write": "Create and delete the tenant's webhook subscriptions.",
        "storage": "Keep plugin data in the installation's key-value storage.",
        "scheduler": "Schedule and cancel the plugin's own background tasks.",
    }
)


class UnknownPermission(ValueError):
    """Raised for a permission name that is not in `ALL_PERMISSIONS` in either spelling."""

    def __init__(self, name: str) -> None:
        self.name = name
        valid = ", ".join(sorted(ALL_PERMISSIONS))
        super().__init__(f"unknown permission {name!r}; valid permissions are: {valid}")


def normalise_permission(name: str) -> str:
    """Return the canonical (dotted) spelling of a permission; raise `UnknownPermission`."""
    if not isinstance(name, str):
        raise UnknownPermission(repr(name))
    canonical = name.strip().lower().replace(":", ".", 1)
    if canonical not in ALL_PERMISSIONS:
        raise UnknownPermission(name)
    return canonical


def normalise_permissions(names: Iterable[str]) -> list[str]:
    """Normalise several permissions, keeping order and dropping repeats."""
    result: list[str] = []
    for name in names:
        canonical = normalise_permission(name)
        if canonical not in result:
            result.append(canonical)
    return result


def describe_permission(name: str) -> str:
    """The one-line description of a permission, in either spelling."""
    return ALL_PERMISSIONS[normalise_permission(name)]
