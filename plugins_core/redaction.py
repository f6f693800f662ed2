"""What a recorded payload may show when it leaves the server for a replay: the one rule.

``plugyard replay`` fetches an invocation's input (an event payload, a job's arguments) to
run it again on a developer's machine. Before it leaves, every value that is a secret or
personal is replaced by :data:`REDACTED`:

- any value under a key that names a secret (``password``, ``token``, ``api_key``, …) or a
  person (``email``, ``name``, ``first_name``, ``phone``, ``address``, …), at any depth;
- any string that contains one of the installation's secret values (the secret is cut out);
- any string that looks like an e-mail address or a phone number, whatever its key.

A dict or list under a sensitive key is walked, not blanked, so its other keys stay useful.

Keys are compared in lower case with ``-`` and spaces read as ``_``, so ``First-Name`` and
``firstName`` are the same key. The shape of the payload is kept (lists stay lists, the
keys stay), so the replayed handler sees what it saw, only with the personal parts blank.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "is_sensitive_key", "redact"]

REDACTED = "[redacted]"

#: Keys whose value is a secret.
_SECRET_KEYS = frozenset({
    "password", "passwd", "secret", "token", "api_key", "apikey", "access_token", "refresh_token",
    "authorization", "auth", "cookie", "session", "private_key", "client_secret", "signature", "credentials",
})
#: Keys whose value is about a person.
_PERSONAL_KEYS = frozenset({
    "email", "e_mail", "mail", "name", "first_name", "last_name", "full_name", "display_name", "given_name",
    "family_name", "surname", "username", "user_name", "phone", "phone_number", "mobile", "telephone", "tel",
    "address", "street", "postal_code", "zip", "zip_code", "birthday", "birth_date", "date_of_birth", "ssn",
    "ip", "ip_address",
})
#: Key endings that make any key sensitive (``customer_email``, ``github_token``, ``stripe_api_key``).
#: Not ``_name`` or ``_key``: ``device_name`` and ``idempotency_key`` are what a replay is about.
_SENSITIVE_SUFFIXES = ("_password", "_secret", "_token", "_api_key", "_private_key", "_email", "_phone",
                       "_phone_number", "_address")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# A phone number: an optional +, then 7 or more digits with spaces, dots, dashes or brackets between.
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{6,}\d(?![\w.])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _normal(key: str) -> str:
    return _CAMEL.sub("_", key).lower().replace("-", "_").replace(" ", "_")


def is_sensitive_key(key: str) -> bool:
    """Whether a value under ``key`` is a secret or personal (so always redacted)."""
    normal = _normal(key)
    return normal in _SECRET_KEYS or normal in _PERSONAL_KEYS or normal.endswith(_SENSITIVE_SUFFIXES)


def _redact_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _EMAIL.sub(REDACTED, text)
    return _PHONE.sub(lambda m: REDACTED if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of ``value`` (JSON-like) with secret and personal values replaced by ``[redacted]``.

    ``secrets`` are values to cut out of any string (the installation's secrets); values
    shorter than four characters are ignored, as they would blank out ordinary words.
    """
    known = tuple(sorted({s for s in secrets if isinstance(s, str) and len(s) >= 4}, key=len, reverse=True))
    return _redact(value, known)


def _redact(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {
            key: (REDACTED if value[key] is not None and is_sensitive_key(str(key)) and not isinstance(value[key], (dict, list))
                  else _redact(value[key], secrets))
            for key in value
        }
    if isinstance(value, list | tuple):
        return [_redact(item, secrets) for item in value]
    if isinstance(value, str):
        return _redact_text(value, secrets)
    return value
