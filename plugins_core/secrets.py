"""Secrets encrypted at rest with MultiFernet: the first key encrypts, every key decrypts.

Values are only ever decrypted to hand them to plugin code through ``ctx.secrets.get``.
"""
from __future__ import annotations

import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction

from plugins_core.models import Installation, Secret

__all__ = ["SECRET_NAME_RE", "delete_secret", "read_secret", "rotate_all", "set_secret"]

SECRET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_SECRET_BYTES = 64 * 1024


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in settings.PLUGYARD_FERNET_KEYS])


def set_secret(installation: Installation, name: str, value: str) -> Secret:
    ciphertext = _fernet().encrypt(value.encode())
    secret, _ = Secret.objects.update_or_create(
        installation=installation, name=name, defaults={"ciphertext": ciphertext}
    )
    return secret


def read_secret(installation: Installation, name: str) -> str | None:
    secret = Secret.objects.filter(installation=installation, name=name).first()
    if secret is None:
        return None
    try:
        return _fernet().decrypt(bytes(secret.ciphertext)).decode()
    except InvalidToken:
        raise RuntimeError(
            f"secret {name!r} cannot be decrypted with any key in PLUGYARD_FERNET_KEYS"
        ) from None


def delete_secret(installation: Installation, name: str) -> bool:
    deleted, _ = Secret.objects.filter(installation=installation, name=name).delete()
    return bool(deleted)


@transaction.atomic
def rotate_all() -> int:
    """Re-encrypt every secret with the first key; returns how many were rotated."""
    fernet = _fernet()
    count = 0
    for secret in Secret.objects.select_for_update().iterator():
        secret.ciphertext = fernet.rotate(bytes(secret.ciphertext))
        secret.save(update_fields=["ciphertext"])
        count += 1
    return count
