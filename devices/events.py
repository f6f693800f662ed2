"""The demo domain's events and filter, registered with the host's event catalog at start.

They are the Ops-Center guide's device and alert events (their specs live in the SDK,
`plugyard_sdk.events`); the domain registers them itself, through the public host API, as
any product would declare its own.
"""
from __future__ import annotations

from plugyard_sdk.events import OPS_CENTER_EVENTS

from plugins_core.host_api import register_event

__all__ = ["EVENTS", "register"]

# The specs are the SDK's data, so `plugyard validate` knows them offline; registering
# them is this domain's decision.
EVENTS = list(OPS_CENTER_EVENTS)


def register() -> None:
    for spec in EVENTS:
        register_event(spec)
