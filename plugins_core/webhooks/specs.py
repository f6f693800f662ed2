"""A plugin version's webhook files, as the SDK parsed them at upload (``PluginVersion.webhooks``)."""
from __future__ import annotations

from plugyard_sdk.webhooks import EMIT_WEBHOOK, WebhookSpec

__all__ = ["EMIT_WEBHOOK", "listens_to", "spec_named", "webhooks_of"]


def webhooks_of(version) -> list[WebhookSpec]:
    return [WebhookSpec(**row) for row in version.webhooks or []]


def spec_named(version, name: str) -> WebhookSpec | None:
    return next((spec for spec in webhooks_of(version) if spec.name == name), None)


def listens_to(spec: WebhookSpec, event_type: str) -> bool:
    return event_type in spec.on
