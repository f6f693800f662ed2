"""A delivery's body: the event's data, or what the webhook's transform made of it in the sandbox.

The transform runs to completion once per event, installation and transform entry (its
Invocation row is unique on those, like a hook's), so retries, redeliveries and webhook
files sharing a transform all send what that run returned.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from plugyard_sdk.webhooks import WebhookSpec

from plugins_core import runner
from plugins_core.events.models import Event
from plugins_core.models import Installation, Invocation, InvocationStatus

__all__ = ["Body", "build_body", "encode"]


@dataclass(frozen=True)
class Body:
    text: str | None  # the JSON text to send; None when the transform failed
    error: str = ""


def encode(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def build_body(installation: Installation, spec: WebhookSpec, event: Event, *, rerun_failed: bool = False) -> Body:
    """The body to send; ``rerun_failed`` (a redelivery) runs a transform that failed before again."""
    if spec.transform is None:
        return Body(encode(event.payload))
    record = _transform_record(installation, spec.transform.entry, event, rerun_failed)
    if record.status not in (InvocationStatus.OK, InvocationStatus.RUNNING):
        return Body(None, _failure(spec, record))
    if record.status == InvocationStatus.RUNNING:
        record = runner.invoke(
            installation, kind="transform", name=spec.transform.entry, payload=event.payload, event=event, record=record,
        )
    if record.status != InvocationStatus.OK:
        return Body(None, _failure(spec, record))
    return Body(encode(record.result))


def _transform_record(installation: Installation, entry: str, event: Event, rerun_failed: bool) -> Invocation:
    """The transform's Invocation for this event: finished already, or ours to run now."""
    for _ in range(2):
        try:
            with transaction.atomic():
                record, created = Invocation.objects.get_or_create(
                    event=event, installation=installation, name=entry,
                    defaults={"tenant_id": installation.tenant_id, "kind": "transform",
                              "status": InvocationStatus.RUNNING, "attempts": 1},
                )
        except IntegrityError:  # another delivery of this event created it first
            continue
        # Left running by a worker that died (the delivery's lease ran out), or failed before
        # and redelivered (perhaps after an upgrade fixed it): run it again.
        if not created and (record.status in (InvocationStatus.RUNNING, InvocationStatus.PENDING)
                            or (rerun_failed and record.status != InvocationStatus.OK)):
            record.status = InvocationStatus.RUNNING
            record.attempts += 1
        return record
    raise RuntimeError(f"could not record the transform {entry} of event {event.pk}")


def _failure(spec: WebhookSpec, record: Invocation) -> str:
    first_line = (record.error or record.status).splitlines()[0]
    return f"the transform {spec.transform.entry} failed ({record.status}): {first_line}"
