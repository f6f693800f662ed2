"""A new version that asks for more waits: the installation keeps running with what was
granted, its page shows the difference, and only an admin's Approve grants it."""
from __future__ import annotations

import pytest

from plugins_core import permission_diff, secrets, services
from plugins_core.models import Installation
from tests.conftest import upload
from tests.marketplace.conftest import weather_zip

pytestmark = pytest.mark.django_db

MORE = {"version": "1.1.0", "permissions": ["outbound_http", "db.read"], "allowed_domains": ["tiles.weather.example"]}


def running(actor, weather) -> Installation:
    """weather-feed 1.0.0 installed for ``actor``'s tenant, set up and enabled."""
    installation = services.install_version(actor.tenant, actor.membership.user, weather.plugin.latest_version)
    services.update_config(installation, {"api_url": "https://api.weather.example/v2"})
    secrets.set_secret(installation, "API_TOKEN", "tok-not-shown")
    secrets.set_secret(installation, "REGION_KEY", "region-not-shown")
    return services.enable(Installation.objects.select_related("plugin", "version", "tenant").get(pk=installation.pk))


@pytest.fixture
def upgraded(admin_page, weather, publisher):
    """acme runs 1.0.0; the publisher ships 1.1.0 asking for db.read and another domain; acme updates."""
    actor, client = admin_page
    installation = running(actor, weather)
    assert upload(publisher, weather_zip(**MORE), "weather-feed.zip").status_code == 201
    services.install_version(actor.tenant, actor.membership.user, weather.plugin.versions.get(version="1.1.0"))
    installation.refresh_from_db()
    return actor, client, installation


def test_the_diff_names_what_was_added_and_removed(upgraded):
    _, _, installation = upgraded
    change = permission_diff.pending(installation)
    assert change.as_dict() == {
        "permissions_added": ["db.read"], "permissions_removed": [],
        "domains_added": ["tiles.weather.example"], "domains_removed": ["api.weather.example"],
    }
    assert change.asks_for_more and not change.empty


def test_the_upgrade_keeps_it_running_with_the_old_grant(upgraded):
    _, _, installation = upgraded
    assert installation.version.version == "1.1.0"
    assert installation.enabled is True  # not switched off any more
    assert installation.granted_permissions == ["outbound_http"]
    assert installation.approved_domains == ["api.weather.example"]


def test_the_page_shows_the_difference_and_an_admin_approves_it(upgraded):
    actor, client, installation = upgraded
    page = client.get(f"/installed/{installation.pk}/").content.decode()
    assert "Version 1.1.0 asks for changes you have not approved" in page
    assert 'data-change="permission-added">Adds the permission <code>db.read</code>' in page
    assert 'data-change="domain-added">Wants to call <code>tiles.weather.example</code>' in page
    assert 'data-change="domain-removed">No longer calls <code>api.weather.example</code>' in page
    assert ">Approve</button>" in page

    response = client.post(f"/installed/{installation.pk}/enable/", {"next": "page"}, follow=True)

    assert response.status_code == 200
    installation.refresh_from_db()
    assert installation.enabled is True
    assert installation.granted_permissions == ["db.read", "outbound_http"]
    assert installation.approved_domains == ["tiles.weather.example"]
    page = response.content.decode()
    assert "Approved what Weather Feed 1.1.0 asks for" in page
    assert "asks for changes you have not approved" not in page


def test_a_member_sees_the_difference_read_only_and_cannot_approve(upgraded, make_actor, client):
    _, _, installation = upgraded
    member = make_actor("acme", "member")
    client.force_login(member.membership.user)
    page = client.get(f"/installed/{installation.pk}/").content.decode()
    assert "Adds the permission <code>db.read</code>" in page
    assert ">Approve</button>" not in page and "An admin or owner of Acme can approve them" in page

    response = client.post(f"/installed/{installation.pk}/enable/", {"next": "page"})
    assert response.status_code == 403
    assert member.client.post(f"/api/plugins/{installation.pk}/enable").status_code == 403
    installation.refresh_from_db()
    assert installation.granted_permissions == ["outbound_http"]


def test_the_api_shows_the_difference_and_its_enable_approves(upgraded):
    actor, _, installation = upgraded
    body = actor.client.get(f"/api/plugins/{installation.pk}").json()
    assert body["pending_permissions"] == ["db.read"]
    assert body["pending_changes"]["domains_added"] == ["tiles.weather.example"]

    body = actor.client.post(f"/api/plugins/{installation.pk}/enable").json()
    assert body["pending_changes"] == {"permissions_added": [], "permissions_removed": [],
                                       "domains_added": [], "domains_removed": []}


def test_another_tenants_installation_is_404(upgraded, make_actor, client):
    _, _, installation = upgraded
    stranger = make_actor("globex", "owner")
    client.force_login(stranger.membership.user)
    assert client.get(f"/installed/{installation.pk}/").status_code == 404
    assert client.post(f"/installed/{installation.pk}/enable/").status_code == 404


def test_no_difference_before_the_first_enable(admin_page, weather):
    actor, client = admin_page
    installation = services.install_version(actor.tenant, None, weather.plugin.latest_version)
    page = client.get(f"/installed/{installation.pk}/").content.decode()
    assert "asks for changes you have not approved" not in page  # the Enable button lists what it grants
