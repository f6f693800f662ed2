"""Email for plugins (``ctx.send_email``) through Django's mail backend.

Recipients are validated and capped, the subject is one line, the body is capped; the
sender is always the platform's address, never one a plugin chooses.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email

from plugins_core.host.errors import BadArguments, QuotaExceeded, UpstreamError

__all__ = ["send"]



def _settings() -> dict[str, Any]:
    return settings.PLUGYARD_EMAIL


def _recipients(to: Any, limit: int) -> list[str]:
    addresses = [to] if isinstance(to, str) else to
    if not isinstance(addresses, list | tuple) or not addresses:
        raise BadArguments("'to' must be an email address or a list of them")
    if len(addresses) > limit:
        raise QuotaExceeded(f"{len(addresses)} recipients; at most {limit} per email")
    clean: list[str] = []
    for address in addresses:
        if not isinstance(address, str) or any(ch in address for ch in "\r\n,;"):
            raise BadArguments(f"{address!r} is not a single email address")
        try:
            validate_email(address.strip())
        except ValidationError:
            raise BadArguments(f"{address!r} is not a valid email address") from None
        if address.strip() not in clean:
            clean.append(address.strip())
    return clean


def send(to: Any, subject: Any, body: Any, html: Any = None, *, tenant=None) -> dict[str, Any]:
    config = _settings()
    recipients = _recipients(to, int(config["max_recipients"]))
    if not isinstance(subject, str) or not subject.strip():
        raise BadArguments("the subject must be non-empty text")
    if "\n" in subject or "\r" in subject:
        raise BadArguments("the subject must be one line")
    if len(subject) > config["max_subject_chars"]:
        raise BadArguments(f"the subject is {len(subject)} characters; the limit is {config['max_subject_chars']}")
    if not isinstance(body, str) or (html is not None and not isinstance(html, str)):
        raise BadArguments("'body' (and 'html', if given) must be text")
    size = len(body.encode()) + len((html or "").encode())
    if size > config["max_body_bytes"]:
        raise QuotaExceeded(f"the email is {size} bytes; the limit is {config['max_body_bytes']}")
    message = EmailMultiAlternatives(
        subject=subject, body=body, to=recipients,
        from_email=config["from_email"] or settings.DEFAULT_FROM_EMAIL,
        headers={"X-Plugyard-Tenant": tenant.slug} if tenant is not None else None,
    )
    if html:
        message.attach_alternative(html, "text/html")
    try:
        sent = message.send(fail_silently=False)
    except Exception as exc:  # SMTP and backend errors; the plugin gets the kind, the log the detail
        import logging

        logging.getLogger(__name__).warning("plugin email failed: %s", exc)
        raise UpstreamError(f"the email could not be sent ({type(exc).__name__})") from None
    return {"sent": bool(sent), "recipients": recipients}
