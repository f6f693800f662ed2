"""Fixtures for the host services: installations with chosen permissions, and their bridges."""
from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

_counter = itertools.count(1)


@pytest.fixture
def make_installation(db) -> Callable[..., object]:
    """An installation of a fresh plugin for ``tenant``, granted exactly ``permissions``."""
    from plugins_core.models import Installation, Plugin, PluginVersion

    def make(tenant, *, permissions=(), approved_domains=(), config_schema=None, config=None, manifest=None):
        n = next(_counter)
        plugin = Plugin.objects.create(slug=f"host-test-{n}", name=f"Host test {n}", publisher=tenant)
        version = PluginVersion.objects.create(
            plugin=plugin, version="1.0.0",
            manifest={"slug": plugin.slug, "permissions": list(permissions), **(manifest or {})},
            config_schema=config_schema, package=f"packages/{n}.zip", package_format="zip",
            sha256=f"{n:064d}", size=1,
        )
        return Installation.objects.create(
            tenant=tenant, plugin=plugin, version=version, enabled=True, config=config or {},
            granted_permissions=list(permissions), approved_domains=list(approved_domains),
        )

    return make


@pytest.fixture
def acme(make_actor):
    return make_actor("acme", "owner").tenant


@pytest.fixture
def globex(make_actor):
    return make_actor("globex", "owner").tenant


@pytest.fixture
def bridge_for() -> Callable[..., object]:
    from plugins_core.host.bridge import InstallationBridge

    def make(installation, **kwargs):
        return InstallationBridge(installation, **kwargs)

    return make
