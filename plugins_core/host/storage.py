"""Per-installation key-value storage (``plugin.storage``) and installation config (``config.*``).

Each installation sees only its own keys. A quota per installation (keys and bytes, from
``settings.PLUGYARD_STORAGE``) bounds what a plugin can keep; a write past it is refused
with the numbers in the message, and nothing is changed.
"""
from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from plugyard_sdk.plugin import match_keys

from plugins_core.errors import InvalidConfig
from plugins_core.host.errors import BadArguments, QuotaExceeded
from plugins_core.host.models import PluginStorageItem
from plugins_core.installation_config import update_config
from plugins_core.models import Installation

__all__ = ["StorageLimits", "clear", "config_get", "config_save", "delete", "exists", "get", "limits", "list_keys", "set"]

MAX_KEY_LENGTH = 255
MAX_PATTERN_LENGTH = 255


class StorageLimits:
    def __init__(self, max_keys: int, max_bytes: int, max_value_bytes: int) -> None:
        self.max_keys = max_keys
        self.max_bytes = max_bytes
        self.max_value_bytes = max_value_bytes


def limits() -> StorageLimits:
    configured = settings.PLUGYARD_STORAGE
    return StorageLimits(int(configured["max_keys"]), int(configured["max_bytes"]), int(configured["max_value_bytes"]))


def _items(installation):

    return PluginStorageItem.objects.for_tenant(installation.tenant).filter(installation=installation)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise BadArguments("a storage key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise BadArguments(f"storage key is {len(key)} characters; the limit is {MAX_KEY_LENGTH}")
    if any(ord(ch) < 32 for ch in key):
        raise BadArguments("a storage key may not contain control characters")
    return key


def _encoded_size(key: str, value: Any) -> int:
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadArguments(f"the value for {key!r} is not JSON-serialisable: {exc}") from None
    return len(encoded.encode()) + len(key.encode())


def get(installation, key: Any) -> Any:
    item = _items(installation).filter(key=_check_key(key)).first()
    return None if item is None else item.value


def exists(installation, key: Any) -> bool:
    return _items(installation).filter(key=_check_key(key)).exists()


def set(installation, key: Any, value: Any) -> None:  # noqa: A001 - the guide's name

    key = _check_key(key)
    size = _encoded_size(key, value)
    quota = limits()
    if size > quota.max_value_bytes:
        raise QuotaExceeded(f"the value for {key!r} is {size} bytes; one value may be at most {quota.max_value_bytes} bytes")
    with transaction.atomic():
        # One writer per installation at a time, so two writes cannot both squeeze under the quota.
        Installation.objects.select_for_update().filter(pk=installation.pk).first()
        items = _items(installation)
        current = items.filter(key=key).first()
        used = items.aggregate(total=Sum("size"))["total"] or 0
        count = items.count()
        if current is None and count + 1 > quota.max_keys:
            raise QuotaExceeded(f"storage holds {count} keys; the limit is {quota.max_keys} per installation")
        new_total = used - (current.size if current else 0) + size
        if new_total > quota.max_bytes:
            raise QuotaExceeded(
                f"storing {key!r} ({size} bytes) would use {new_total} bytes; "
                f"the limit is {quota.max_bytes} bytes per installation"
            )
        if current is None:
            PluginStorageItem.objects.create(installation=installation, key=key, value=value, size=size)
        else:
            current.value, current.size = value, size
            current.save(update_fields=["value", "size", "updated_at"])


def list_keys(installation, pattern: Any = "*") -> list[str]:
    """Keys matching a glob (``device:*``), with the same semantics as the SDK's mock.

    The pattern is matched in Python, never turned into SQL or a database regex; the
    literal prefix before the first wildcard narrows the query.
    """
    pattern = "*" if pattern in (None, "") else pattern
    if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_LENGTH:
        raise BadArguments(f"a key pattern must be a string of at most {MAX_PATTERN_LENGTH} characters")
    prefix = ""
    for ch in pattern:
        if ch in "*?[":
            break
        prefix += ch
    keys = _items(installation).filter(key__startswith=prefix).values_list("key", flat=True)
    return match_keys(keys, pattern)


def delete(installation, key: Any) -> bool:
    deleted, _ = _items(installation).filter(key=_check_key(key)).delete()
    return bool(deleted)


def clear(installation) -> int:
    deleted, _ = _items(installation).delete()
    return deleted


def config_get(installation) -> dict[str, Any]:
    installation.refresh_from_db(fields=["config"])
    return dict(installation.config or {})


def config_save(installation, values: Any) -> dict[str, Any]:
    """Replace the config with ``values`` after validating it against the version's config_schema."""
    if not isinstance(values, dict):
        raise BadArguments("config.save needs the whole config as an object")
    try:
        with transaction.atomic():
            update_config(installation, values, replace=True)
    except InvalidConfig as exc:
        problems = "; ".join(f"{d['field'] or 'config'}: {d['message']}" for d in exc.details)
        raise BadArguments(f"the config does not match the plugin's config_schema — {problems}", code="invalid_config") from None
    return dict(installation.config)
