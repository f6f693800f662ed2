"""Marketplace fixtures: plugins uploaded through the real API by a publisher, then published.

``weather-feed`` (``plugins/``) is the plugin that needs setting up before it can run: a
required setting without a default, a declared secret and one only its code reads.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Actor, make_tar_gz, make_zip, plugin_files, upload

PLUGINS = Path(__file__).parent / "plugins"


def ops_package(**fields: Any) -> bytes:
    """The Ops-Center fixture plugin with some manifest fields replaced (id, name, pricing…)."""
    files = plugin_files("ops-my-plugin")
    manifest = yaml.safe_load(files["plugin.yaml"])
    manifest.update(fields)
    files["plugin.yaml"] = yaml.safe_dump(manifest, sort_keys=False).encode()
    return make_tar_gz(files, top=f"{manifest['id']}-{manifest['version']}")


@pytest.fixture
def publisher(make_actor) -> Actor:
    """A developer of a separate publishing tenant; its uploads are its own plugins."""
    return make_actor("plugin-house", "developer")


@pytest.fixture
def publish(publisher) -> Callable[..., Any]:
    """Upload a plugin through the API and set its listing's status (published by default)."""
    from marketplace.models import Listing, ListingStatus

    def do(slug: str, *, status: str = ListingStatus.PUBLISHED, **fields: Any) -> Listing:
        fields = {"id": slug, "name": slug.replace("-", " ").title(), **fields}
        response = upload(publisher, ops_package(**fields), f"{slug}.tar.gz")
        assert response.status_code == 201, response.content
        Listing.objects.filter(plugin__slug=slug).update(status=status)
        return Listing.objects.select_related("plugin", "category").get(plugin__slug=slug)

    return do


@pytest.fixture
def admin_page(make_actor, client) -> tuple[Actor, Any]:
    """An admin of acme, signed in with a session on Django's test client."""
    actor = make_actor("acme", "admin")
    client.force_login(actor.membership.user)
    return actor, client


@pytest.fixture
def member_page(make_actor, client) -> tuple[Actor, Any]:
    actor = make_actor("acme", "member")
    client.force_login(actor.membership.user)
    return actor, client


def weather_zip(**fields: Any) -> bytes:
    """The weather-feed plugin as a zip, with some plugin.json fields replaced (version…)."""
    root = PLUGINS / "weather-feed"
    files = {path.name: path.read_bytes() for path in sorted(root.iterdir()) if path.is_file()}
    files["plugin.json"] = json.dumps({**json.loads(files["plugin.json"]), **fields}).encode()
    return make_zip(files)


@pytest.fixture
def weather(publisher):
    """weather-feed 1.0.0, uploaded by the publisher and published in the marketplace."""
    from marketplace.models import Listing, ListingStatus

    response = upload(publisher, weather_zip(), "weather-feed.zip")
    assert response.status_code == 201, response.content
    Listing.objects.filter(plugin__slug="weather-feed").update(status=ListingStatus.PUBLISHED)
    return Listing.objects.select_related("plugin").get(plugin__slug="weather-feed")


def confirm_install(client: Any, slug: str, **fields: Any) -> Any:
    """POST the consent page's form for ``slug``: the version it offers and ``confirm=yes``."""
    from marketplace.listings import installable_version
    from marketplace.models import Listing, ListingStatus

    listing = Listing.objects.filter(plugin__slug=slug, status=ListingStatus.PUBLISHED).first()
    version = installable_version(listing) if listing else None
    return client.post(f"/plugins/{slug}/install/", {"version": version.pk if version else 1, "confirm": "yes", **fields})
