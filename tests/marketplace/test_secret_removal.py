"""The installed page removes a stored secret: one POST per secret, admins only, no value
ever shown, another tenant's installation not found."""
from __future__ import annotations

import pytest
from django.test import Client

from plugins_core import secrets, services
from plugins_core.models import Secret

pytestmark = pytest.mark.django_db

TOKEN = "tok-5e4d3c2b1a-do-not-show"


@pytest.fixture
def with_secret(admin_page, weather):
    actor, client = admin_page
    installation = services.install_version(actor.tenant, actor.membership.user, weather.plugin.latest_version)
    secrets.set_secret(installation, "API_TOKEN", TOKEN)
    return actor, client, installation


def remove_url(installation, name: str) -> str:
    return f"/installed/{installation.pk}/secrets/{name}/remove/"


def test_a_set_secret_has_a_remove_button_and_an_unset_one_none(with_secret):
    _, client, installation = with_secret
    page = client.get(f"/installed/{installation.pk}/").content.decode()
    assert 'form="remove-secret-API_TOKEN"' in page and f'action="{remove_url(installation, "API_TOKEN")}"' in page
    assert 'form="remove-secret-REGION_KEY"' not in page  # not set: nothing to remove
    assert TOKEN not in page


def test_an_admin_removes_a_secret(with_secret):
    _, client, installation = with_secret
    response = client.post(remove_url(installation, "API_TOKEN"), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Removed the secret API_TOKEN of Weather Feed" in page
    assert 'data-secret-state="API_TOKEN">not set' in page
    assert TOKEN not in page
    assert not Secret.objects.filter(installation=installation).exists()


def test_removing_a_secret_of_a_running_plugin_says_what_follows(with_secret):
    _, client, installation = with_secret
    installation.enabled = True
    installation.save(update_fields=["enabled"])
    page = client.post(remove_url(installation, "API_TOKEN"), follow=True).content.decode()
    assert "It is still enabled: whatever uses it fails until you set a new value." in page


def test_a_secret_the_version_no_longer_uses_can_be_removed_too(with_secret):
    _, client, installation = with_secret
    secrets.set_secret(installation, "OLD_KEY", "old-value-not-shown")
    page = client.get(f"/installed/{installation.pk}/").content.decode()
    assert 'id="unused-secrets"' in page and 'form="remove-secret-OLD_KEY"' in page
    assert client.post(remove_url(installation, "OLD_KEY")).status_code == 302
    assert list(Secret.objects.filter(installation=installation).values_list("name", flat=True)) == ["API_TOKEN"]


def test_a_member_gets_403_and_sees_no_remove_button(with_secret, make_actor):
    _, _, installation = with_secret
    member = make_actor("acme", "member")
    client = Client()
    client.force_login(member.membership.user)
    assert "remove-secret-" not in client.get(f"/installed/{installation.pk}/").content.decode()
    response = client.post(remove_url(installation, "API_TOKEN"))
    assert response.status_code == 403 and "admin or owner role" in response.content.decode()
    assert Secret.objects.filter(installation=installation, name="API_TOKEN").exists()


def test_another_tenants_installation_is_404(with_secret, make_actor):
    _, _, installation = with_secret
    stranger = make_actor("globex", "owner")
    client = Client()
    client.force_login(stranger.membership.user)
    assert client.post(remove_url(installation, "API_TOKEN")).status_code == 404
    assert Secret.objects.filter(installation=installation).exists()


@pytest.mark.parametrize("name, status, text", [
    ("REGION_KEY", 404, "has no secret REGION_KEY set"),
    ("1BAD", 400, "Not a secret"),
    ("bad-name", 400, "Not a secret"),
])
def test_an_unknown_or_malformed_name_is_a_4xx_page_and_removes_nothing(with_secret, name, status, text):
    _, client, installation = with_secret
    response = client.post(remove_url(installation, name))
    assert response.status_code == status and text in response.content.decode()
    assert Secret.objects.filter(installation=installation).count() == 1


def test_removing_needs_post_and_a_csrf_token(with_secret):
    actor, client, installation = with_secret
    assert client.get(remove_url(installation, "API_TOKEN")).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(actor.membership.user)
    assert strict.post(remove_url(installation, "API_TOKEN")).status_code == 403
    assert Secret.objects.filter(installation=installation).exists()
