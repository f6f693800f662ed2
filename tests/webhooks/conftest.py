"""Fixtures for webhook delivery: the SBH guide's webhook plugin, installed and enabled with its
secrets, and a real local receiver that the SSRF-safe client is allowed to reach."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import make_zip, upload
from tests.host import servers

PLUGINS = Path(__file__).parent / "plugins"
SIGNING_KEY = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="  # base64 of a test key
URL_TOKEN = "T0k3n-in-the-path-9f8e7d"  # the secret part of the receiver's URL
BUILD = {"build_id": 42, "status": "success", "project_name": "api", "created_at": "2025-01-02T03:04:05Z"}


def guide_files(changes: dict[str, bytes | None] | None = None) -> dict[str, bytes]:
    """The guide webhook plugin's files; ``changes`` replaces files (or, with None, removes them)."""
    root = PLUGINS / "guide-webhooks"
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts}
    for name, data in (changes or {}).items():
        if data is None:
            files.pop(name, None)
        else:
            files[name] = data
    return files


class Receiver:
    """A local HTTP server answering ``POST /hooks/<token>`` with the statuses queued in ``replies``."""

    def __init__(self, recorder: servers.Recorder, replies: list[int]) -> None:
        self.recorder, self.replies = recorder, replies

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.recorder.port}/hooks/{URL_TOKEN}"

    @property
    def requests(self) -> list[dict]:
        return self.recorder.requests


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    replies: list[int] = []

    def routes(recorder):
        def answer(handler, query, body):
            status = replies.pop(0) if replies else 200
            handler._send(status, json.dumps({"received": len(body), "status": status}).encode(),
                          {"Content-Type": "application/json"})
        return {f"/hooks/{URL_TOKEN}": answer}

    with servers.serve(routes) as recorder:
        settings.PLUGYARD_HTTP = {
            **settings.PLUGYARD_HTTP, "ports": [80, 443, recorder.port],
            "UNSAFE_private_addresses_for_tests": [f"127.0.0.1:{recorder.port}"],
        }
        yield Receiver(recorder, replies)


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    """No real waiting between attempts: tests drive the sweep themselves."""
    settings.PLUGYARD_WEBHOOKS = {**settings.PLUGYARD_WEBHOOKS, "backoff_base_s": 0, "timeout_s": 5}


@pytest.fixture
def queued(monkeypatch) -> list[tuple[int, str]]:
    """Attempt tasks queued (instead of sent to a broker): (delivery id, lease token), whether
    by the sweep task or by the code below it (``plugins_core.queue``)."""
    sent: list[tuple[int, str]] = []
    from plugins_core import queue
    from plugins_core.webhooks import tasks

    monkeypatch.setattr(tasks.deliver_webhook, "delay", lambda delivery_id, token: sent.append((delivery_id, token)))
    real_now = queue.now

    def now(task: str, *args, countdown=None) -> bool:
        if task == "plugins_core.webhooks.tasks.deliver_webhook":
            sent.append(args)
            return True
        return real_now(task, *args, countdown=countdown)

    monkeypatch.setattr(queue, "now", now)
    return sent


@pytest.fixture
def dispatch(queued, django_capture_on_commit_callbacks):
    """Raise ``build.completed`` and run its dispatch as the worker would; returns the event."""
    from plugins_core.events.emit import emit
    from plugins_core.events.tasks import dispatch_event

    def run(tenant, event_type="build.completed", payload=BUILD):
        event = emit(tenant, event_type, payload)
        with django_capture_on_commit_callbacks(execute=True):
            dispatch_event(event.pk)
        return event
    return run


@pytest.fixture
def work(queued, django_capture_on_commit_callbacks):
    """Run every queued attempt, as a worker would; returns how many ran."""
    from plugins_core.webhooks.tasks import deliver_webhook

    def run() -> int:
        count = 0
        while queued:
            with django_capture_on_commit_callbacks(execute=True):
                deliver_webhook(*queued.pop(0))
            count += 1
        return count
    return run


@pytest.fixture
def install_guide(receiver) -> Callable[..., object]:
    """Upload, enable and configure the guide's webhook plugin for ``actor``'s tenant."""
    from plugins_core import secrets
    from plugins_core.models import Installation

    def install(actor, files: dict[str, bytes] | None = None, *, url: str | None = None,
                signing_key: str | None = SIGNING_KEY):
        response = upload(actor, make_zip(files or guide_files()))
        assert response.status_code == 201, response.json()
        installation = Installation.objects.get(pk=response.json()["id"])
        # Enabling needs every secret the webhooks use; a test of a missing signing key
        # removes it after, as an admin deleting it would.
        secrets.set_secret(installation, "WEBHOOK_URL", url or receiver.url)
        secrets.set_secret(installation, "WEBHOOK_SIGNING_KEY", signing_key or SIGNING_KEY)
        assert actor.client.post(f"/api/plugins/{installation.pk}/enable").status_code == 200
        if signing_key is None:
            secrets.delete_secret(installation, "WEBHOOK_SIGNING_KEY")
        return installation

    return install
