"""The suite's one fixture kit: a plugin package from a few lines of code, and one install helper.

The guides' own example plugins are in ``tests/fixtures/plugins`` (``conftest.plugin_files``);
this builds the small purpose-made ones, and installs either kind the way a tenant does:
upload through the API, then enable through the API.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tests.conftest import make_zip, upload

__all__ = ["install", "plugin_zip"]


def plugin_zip(slug: str, code: str, *, events: Iterable[str] = (), permissions: Iterable[str] = (),
               emits: Iterable[str] = (), routes: bool = False, **manifest: Any) -> bytes:
    """An SBH-style package: ``plugin.json`` for ``slug`` and ``code`` as its ``main.py``."""
    fields = {"slug": slug, "name": slug, "version": "1.0.0", "entry": "main.py", "events": list(events),
              "permissions": list(permissions), "emits": list(emits), "routes": routes, **manifest}
    return make_zip({"plugin.json": json.dumps(fields).encode(), "main.py": code.encode()})


def install(actor, data: bytes, filename: str = "plugin.zip", *, enable: bool = True,
            config: dict[str, Any] | None = None, secrets: dict[str, str] | None = None):
    """Upload ``data`` for the actor's tenant, set ``config`` and ``secrets``, and (by default)
    enable it, all through the API; returns the Installation with its tenant, plugin and
    version loaded. A plugin that needs a setting or secret is only enabled once it has it."""
    from plugins_core.models import Installation

    response = upload(actor, data, filename)
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    if config:
        changed = actor.client.patch(f"/api/plugins/{pk}/config", config, format="json")
        assert changed.status_code == 200, changed.content
    for name, value in (secrets or {}).items():
        stored = actor.client.put(f"/api/plugins/{pk}/secrets/{name}", {"value": value}, format="json")
        assert stored.status_code == 204, stored.content
    if enable:
        enabled = actor.client.post(f"/api/plugins/{pk}/enable")
        assert enabled.status_code == 200, enabled.content
    return Installation.objects.select_related("tenant", "plugin", "version").get(pk=pk)
