"""A delivery's body: the event's data, or what the webhook's transform made of it in the sandbox.

The transform runs to completion once per event, installation and transform entry (its
Invocation row is unique on those, like a hook's), so retries, redeliveries and webhook
files sharing a transform all send what that run returned.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from plugyard_sdk.webhooks import WebhookSpec

from plugins_core import invocations, runner
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
    entry = spec.transform.entry
    claim = invocations.claim_one(
        {"event": event, "installation": installation, "name": entry},
        {"tenant_id": installation.tenant_id, "kind": "transform"}, rerun_failed=rerun_failed,
    )
    record = claim.invocation
    if claim.run:
        record = runner.invoke(installation, kind="transform", name=entry, payload=event.payload, event=event,
                               record=record)
        value = record.output
    elif record.status == InvocationStatus.OK:
        if (record.report or {}).get("truncated", {}).get("result"):
            return Body(None, f"the transform {entry} returned more than the invocation log keeps; "
                              "its body cannot be sent again")
        value = record.result  # transformed before, by another delivery of this event
    elif claim.retry_after:
        return Body(None, f"the transform {entry} is running for another delivery of this event")
    else:
        value = None
    if record.status != InvocationStatus.OK:
        return Body(None, _failure(spec, record))
    return Body(encode(value))


def _failure(spec: WebhookSpec, record: Invocation) -> str:
    first_line = (record.error or record.status).splitlines()[0]
    return f"the transform {spec.transform.entry} failed ({record.status}): {first_line}"
