"""The admin pages staff use: every model page renders; secrets are write-only; schemas validated."""
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from plugins_core.models import Installation, PluginVersion, Secret
from plugins_core.secrets import read_secret
from tests.conftest import upload

pytestmark = pytest.mark.django_db

SECRET = "admin-typed-secret-value-123"


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("staff", "staff@x.test", "pw-long-enough-1")
    client.force_login(user)
    return client


@pytest.fixture
def installed(owner, ops_tar):
    return Installation.objects.get(pk=upload(owner, ops_tar, "p.tar.gz").json()["id"])


def test_every_changelist_and_change_page_renders(staff_client, installed):
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        response = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert response.status_code == 200, opts.label
        obj = model_admin.get_queryset(_request(staff_client)).first()
        if obj is not None:
            response = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
            assert response.status_code == 200, opts.label


def _request(client):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = get_user_model().objects.get(username="staff")
    return request


def test_event_catalog_page_lists_both_guides_events(staff_client):
    response = staff_client.get(reverse("admin:plugins_core_event_catalog"))
    assert response.status_code == 200
    for name in ["auth.user.created", "build.completed", "device.created", "device.data.process"]:
        assert name in response.content.decode()


def test_secrets_are_write_only_in_the_admin(staff_client, installed):
    response = staff_client.post(
        reverse("admin:plugins_core_secret_add"), {"installation": installed.pk, "name": "API_KEY", "value": SECRET}
    )
    assert response.status_code == 302
    assert read_secret(installed, "API_KEY") == SECRET
    secret = Secret.objects.get()
    for url in [reverse("admin:plugins_core_secret_changelist"), reverse("admin:plugins_core_secret_change", args=[secret.pk])]:
        assert SECRET not in staff_client.get(url).content.decode()


def test_config_schema_edits_are_validated(staff_client, installed):
    version = PluginVersion.objects.get()
    url = reverse("admin:plugins_core_pluginversion_change", args=[version.pk])
    bad = staff_client.post(url, {"config_schema": '{"type": "object", "properties": {"x": {"type": "nope"}}}'})
    assert bad.status_code == 200 and b"errornote" in bad.content
    good = staff_client.post(url, {"config_schema": '{"type": "object", "properties": {"x": {"type": "integer", "default": 3}}}'})
    assert good.status_code == 302
    version.refresh_from_db()
    assert version.config_schema["properties"]["x"]["default"] == 3


def test_enable_and_disable_actions(staff_client, installed):
    url = reverse("admin:plugins_core_installation_changelist")
    staff_client.post(url, {"action": "enable_selected", "_selected_action": [installed.pk]})
    installed.refresh_from_db()
    assert installed.enabled and installed.granted_permissions
    staff_client.post(url, {"action": "disable_selected", "_selected_action": [installed.pk]})
    installed.refresh_from_db()
    assert not installed.enabled


def test_token_creation_shows_the_token_once(staff_client, owner):
    response = staff_client.post(
        reverse("admin:tenants_apitoken_add"), {"membership": owner.membership.pk, "name": "ci"}, follow=True
    )
    assert response.status_code == 200
    assert "pyd_" in response.content.decode()
    again = staff_client.get(reverse("admin:tenants_apitoken_changelist")).content.decode()
    assert again.count("pyd_") == again.count("_…")
