"""Sending a delivery: who may make the next attempt (leases), one attempt, and what follows it.

An attempt is made only by the holder of the delivery's lease token: fan-out, the sweep and
redelivery each set a fresh token and queue a task carrying it, so a lost message is
replaced once its lease runs out and two workers never send the same attempt. An attempt
that outlives its lease (a killed worker) counts as made.

Outcomes: 2xx succeeds; a network error, a timeout, 429 or 5xx is retried after a backoff
until ``max_attempts``; anything else (another status, a refused address, a missing secret,
a failing transform) fails the delivery at once, since retrying cannot change it.

Receivers on loopback (a developer's own machine, as on ``make run``) are refused like any
other non-public address, unless DEBUG is on *and* PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK is set:
then a delivery may go to a loopback address on any port (``_http_policy``). The rule is
the deliveries' only; ``ctx.http`` never reaches loopback.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets as token_source
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from plugyard_sdk.signing import signature_headers

from plugins_core import activity_log
from plugins_core import queue as task_queue
from plugins_core.host import http as host_http
from plugins_core.host.errors import HostCallError, UpstreamError
from plugins_core.models import Installation
from plugins_core.webhooks.models import ACTIVE, DeliveryStatus, WebhookAttempt, WebhookDelivery
from plugins_core.webhooks.payload import build_body
from plugins_core.webhooks.render import MissingSecret, Rendered, redacting_logs, render
from plugins_core.webhooks.specs import EMIT_WEBHOOK, spec_named

__all__ = ["DeliveryBusy", "Outcome", "backoff", "claim_due", "deliver", "lease", "new_token", "queue", "redeliver"]


USER_AGENT = "Plugyard-Webhooks/1"
_RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))


def _config() -> dict:
    return settings.PLUGYARD_WEBHOOKS


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=int(_config()["lease_s"]))


def new_token() -> str:
    return token_source.token_hex(16)


def backoff(policy: str, attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
    base, cap = float(_config()["backoff_base_s"]), float(_config()["backoff_cap_s"])
    wait = base if policy == "fixed" else base * 2 ** max(attempt - 1, 0)
    return min(wait, cap)


def queue(delivery_id: int, token: str) -> None:
    """Send the attempt task after the current transaction; a broker failure is left to the sweep
    (the delivery's lease runs out and ``send_due_webhooks`` sends it)."""
    task_queue.after_commit("plugins_core.webhooks.tasks.deliver_webhook", delivery_id, token)


def claim_due(limit: int = 500) -> list[tuple[int, str]]:
    """Lease every delivery due for an attempt (or whose lease ran out); (id, token) of each."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(status__in=ACTIVE, next_attempt_at__lte=now).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    _fail_exhausted(due)
    claimed = []
    for delivery_id in list(due.values_list("pk", flat=True)[:limit]):
        token = new_token()
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        if WebhookDelivery.objects.filter(free, pk=delivery_id, status__in=ACTIVE).update(
            lease_token=token, lease_until=now + lease()
        ):
            claimed.append((delivery_id, token))
    return claimed


def _fail_exhausted(due) -> None:
    """Deliveries whose last attempt died with its worker: nothing is left to try."""
    for delivery in due.filter(attempts__gte=F("max_attempts")):
        _finish(delivery, DeliveryStatus.FAILED, error=delivery.error or
                f"no attempts left ({delivery.attempts} of {delivery.max_attempts}); the last one never finished")


@dataclass(frozen=True)
class Outcome:
    sent: bool  # False: not ours to send (stale token, finished, or out of attempts)
    status: str = ""
    attempt: WebhookAttempt | None = None


def _begin(delivery_id: int, token: str) -> WebhookDelivery | None:
    """Turn a held lease into an attempt: count it and renew the lease for its duration.

    The token alone decides: a lease that ran out but was not taken over (the sweep sets a
    new token when it takes one) is still the holder's, so a long queue does not starve it.
    """
    now = timezone.now()
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id, lease_token=token, status__in=ACTIVE, attempts__lt=F("max_attempts"),
    ).update(attempts=F("attempts") + 1, lease_until=now + lease())
    if not taken:
        return None
    return WebhookDelivery.objects.select_related("installation__version", "installation__tenant", "event").get(pk=delivery_id)


def deliver(delivery_id: int, token: str) -> Outcome:
    """Make one attempt at a delivery whose lease ``token`` the caller holds."""
    delivery = _begin(delivery_id, token)
    if delivery is None:
        return Outcome(False)
    attempt = WebhookAttempt.objects.create(
        delivery=delivery, cycle=delivery.cycle, number=delivery.attempts, started_at=timezone.now(),
    )
    started = time.monotonic()
    status, retry = _attempt(delivery, attempt)
    attempt.duration_ms = round((time.monotonic() - started) * 1000, 1)
    attempt.save()
    if status == DeliveryStatus.SUCCEEDED:
        _finish(delivery, DeliveryStatus.SUCCEEDED)
    elif retry is None or delivery.attempts >= delivery.max_attempts:
        _finish(delivery, DeliveryStatus.FAILED, error=attempt.error or f"the receiver answered {attempt.status_code}")
    else:
        WebhookDelivery.objects.filter(pk=delivery.pk, lease_token=token).update(
            status=DeliveryStatus.RETRYING, next_attempt_at=timezone.now() + dt.timedelta(seconds=retry),
            lease_until=None, lease_token="", error=attempt.error or f"the receiver answered {attempt.status_code}",
        )
    delivery.refresh_from_db()
    activity_log.delivery(delivery, attempt)
    return Outcome(True, delivery.status, attempt)


def _attempt(delivery: WebhookDelivery, attempt: WebhookAttempt) -> tuple[str, float | None]:
    """Fill in ``attempt``; returns the status it leads to and, if retryable, the wait before the next."""
    installation: Installation = delivery.installation
    spec = spec_named(installation.version, delivery.webhook)
    refusal = _refusal(installation, spec is not None, delivery.webhook)
    if refusal:
        attempt.error = refusal
        return DeliveryStatus.FAILED, None
    try:
        rendered = render(installation, spec)
    except MissingSecret as exc:
        attempt.error = str(exc)
        return DeliveryStatus.FAILED, None
    if delivery.target != rendered.target:
        delivery.target = rendered.target
        WebhookDelivery.objects.filter(pk=delivery.pk).update(target=rendered.target)
    if delivery.body is None:
        body = build_body(installation, spec, delivery.event, rerun_failed=delivery.cycle > 0)
        if body.text is None:
            attempt.error = rendered.redact(body.error)
            return DeliveryStatus.FAILED, None
        delivery.body = body.text
        WebhookDelivery.objects.filter(pk=delivery.pk).update(body=body.text)
    return _send(delivery, attempt, rendered, spec.retry.backoff)


def _refusal(installation: Installation, has_spec: bool, webhook: str) -> str:
    if not installation.enabled:
        return "the installation is disabled"
    if EMIT_WEBHOOK not in (installation.granted_permissions or []):
        return f"the installation is not granted the {EMIT_WEBHOOK} permission"
    if not has_spec:
        return f"the installed version has no webhooks/{webhook}.yaml"
    return ""


def _send(delivery: WebhookDelivery, attempt: WebhookAttempt, rendered: Rendered, policy: str) -> tuple[str, float | None]:
    headers = {"User-Agent": USER_AGENT, **rendered.headers, "Content-Type": "application/json",
               **signature_headers(rendered.signing_secret, delivery.message_id, delivery.body)}
    # The URL is the tenant's own secret, not a domain the manifest asks for: the host's
    # own name is the approval; the platform's allow/deny lists and the refusal of
    # private addresses still apply (host_http.vet).
    approved = _own_host(rendered.url)
    try:
        with redacting_logs(rendered):
            response = host_http.request(approved, "POST", rendered.url, headers=headers, data=delivery.body,
                                         timeout=float(_config()["timeout_s"]), policy=_http_policy(rendered.url))
    except UpstreamError as exc:  # network error or timeout: worth another try
        attempt.error = rendered.redact(str(exc))
        return DeliveryStatus.RETRYING, backoff(policy, delivery.attempts)
    except HostCallError as exc:  # refused target, bad header, body too large: retrying cannot help
        attempt.error = rendered.redact(str(exc)) + _loopback_hint(rendered.url)
        return DeliveryStatus.FAILED, None
    code = int(response["status_code"])
    attempt.status_code = code
    attempt.response_excerpt = rendered.redact(response.get("text") or "")[: WebhookAttempt.EXCERPT_CHARS]
    if 200 <= code < 300:
        return DeliveryStatus.SUCCEEDED, None
    if code in _RETRY_STATUSES:
        attempt.error = f"the receiver answered {code}"
        return DeliveryStatus.RETRYING, max(backoff(policy, delivery.attempts), _retry_after(response))
    attempt.error = f"the receiver answered {code}; not retried"
    return DeliveryStatus.FAILED, None


LOOPBACK_SETTING = "PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK"


def _loopback_allowed() -> bool:
    return bool(getattr(settings, LOOPBACK_SETTING, False)) and settings.DEBUG


def _http_policy(url: str) -> host_http.HttpSettings:
    """The platform's outbound policy; for a loopback receiver, loopback on any port when
    DEBUG and PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK are both on."""
    policy = host_http.http_settings()
    if _names_loopback(url) and _loopback_allowed():
        return dataclasses.replace(policy, loopback_any_port=True)
    return policy


def _loopback_hint(url: str) -> str:
    """What to add to a refusal of a loopback receiver: how (and when) it could be allowed."""
    if not _names_loopback(url) or _loopback_allowed():
        return ""
    if getattr(settings, LOOPBACK_SETTING, False):
        return f" ({LOOPBACK_SETTING} is set, but it is honoured only with DEBUG on)"
    return f" (for a receiver on this machine in development, set {LOOPBACK_SETTING}=true with DEBUG on; make run does)"


def _names_loopback(url: str) -> bool:
    """Whether the URL's host is a loopback address or ``localhost`` (resolved again, and every
    address checked, by ``host_http.vet``)."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    return host == "localhost" or host.endswith(".localhost") or host_http.is_loopback(host)


def _own_host(url: str) -> list[str]:
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return []
    try:
        return [host, host.encode("idna").decode("ascii")]
    except UnicodeError:
        return [host]


def _retry_after(response: dict) -> float:
    """A 429 or 503's Retry-After in seconds (capped like the backoff); 0 when absent."""
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    value = str(headers.get("retry-after", "")).strip()
    return min(float(value), float(_config()["backoff_cap_s"])) if value.isdigit() else 0.0


def _finish(delivery: WebhookDelivery, status: str, *, error: str = "") -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, finished_at=timezone.now(), next_attempt_at=None, lease_until=None, lease_token="",
        error="" if status == DeliveryStatus.SUCCEEDED else error,
    )


class DeliveryBusy(Exception):
    """An attempt at this delivery is under way; redeliver once it has finished."""


def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Start a new cycle of attempts on a delivery (same row, same body, same webhook-id).

    Raises DeliveryBusy while an attempt holds a live lease.
    """
    now = timezone.now()
    token = new_token()
    idle = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | ~Q(status__in=ACTIVE)
    cap = int(_config()["max_attempts_cap"])
    spec = spec_named(delivery.installation.version, delivery.webhook)
    max_attempts = min(spec.retry.max_attempts, cap) if spec else delivery.max_attempts
    updated = WebhookDelivery.objects.filter(idle, pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, cycle=F("cycle") + 1, attempts=0, max_attempts=max_attempts,
        next_attempt_at=now, lease_token=token, lease_until=now + lease(), finished_at=None, error="",
    )
    if not updated:
        raise DeliveryBusy(f"an attempt at delivery {delivery.pk} is under way")
    queue(delivery.pk, token)
    delivery.refresh_from_db()
    return delivery
