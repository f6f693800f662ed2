"""Filling in a webhook file's placeholders for one attempt, and keeping what they held out of logs.

``${SECRET:NAME}`` comes from the installation's secrets and ``${TENANT_ID}`` is the tenant's
slug. The rendered values live only in memory for one attempt; `Rendered.redact` scrubs
them (and the URL's path and query, which a secret URL hides credentials in) from any text
that will be stored, answered or logged.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from plugyard_sdk.webhooks import PLACEHOLDER_RE, WebhookSpec, render_placeholders

from plugins_core import secrets
from plugins_core.models import Installation

__all__ = ["MissingSecret", "Rendered", "display_target", "redacting_logs", "render"]

_REDACTED = "[redacted]"
#: Libraries that log request URLs at DEBUG (urllib3 logs "POST /path HTTP/1.1").
_CHATTY_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "requests")


class MissingSecret(Exception):
    """A placeholder names a secret the installation does not have."""

    def __init__(self, name: str, webhook: str) -> None:
        self.name = name
        super().__init__(
            f"the secret {name} used by webhooks/{webhook}.yaml is not set for this installation; "
            f"set it with PUT /api/plugins/<id>/secrets/{name}"
        )


@dataclass(frozen=True)
class Rendered:
    url: str
    headers: dict[str, str]
    signing_secret: str | None
    target: str  # scheme://host[:port], safe to show
    hidden: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:  # never print the URL, headers or secret by accident
        return f"Rendered(target={self.target!r})"

    def redact(self, text: str) -> str:
        for value in sorted(self.hidden, key=len, reverse=True):
            text = text.replace(value, _REDACTED)
        return text


def display_target(url: str) -> str:
    """``https://hooks.example.com`` for any URL on it: scheme, host and explicit port only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}"


def render(installation: Installation, spec: WebhookSpec) -> Rendered:
    """The webhook's URL, headers and signing secret for ``installation``; raises MissingSecret."""
    delivery = spec.delivery
    texts = [delivery.url, *delivery.headers.values(), *([delivery.signing.secret] if delivery.signing else [])]
    values: dict[str, str] = {}
    for text in texts:
        for match in PLACEHOLDER_RE.finditer(text):
            name = match.group("secret")
            if name and name not in values:
                value = secrets.read_secret(installation, name)
                if value is None:
                    raise MissingSecret(name, spec.name)
                values[name] = value
    tenant = installation.tenant.slug
    url = render_placeholders(delivery.url, values, tenant)
    headers = {name: render_placeholders(value, values, tenant) for name, value in delivery.headers.items()}
    signing = render_placeholders(delivery.signing.secret, values, tenant) if delivery.signing else None
    hidden = [value for value in values.values() if value]
    if PLACEHOLDER_RE.search(delivery.url):
        parts = urlsplit(url)
        hidden += [url, *(p for p in (parts.path, parts.query) if len(p) > 1)]
    return Rendered(url=url, headers=headers, signing_secret=signing, target=display_target(url), hidden=tuple(hidden))


class _Redactor(logging.Filter):
    def __init__(self, rendered: Rendered) -> None:
        super().__init__()
        self.rendered = rendered

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.rendered.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


@contextmanager
def redacting_logs(rendered: Rendered) -> Iterator[None]:
    """While sending, scrub the rendered values from what the HTTP libraries log."""
    redactor = _Redactor(rendered)
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    for logger in loggers:
        logger.addFilter(redactor)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redactor)
