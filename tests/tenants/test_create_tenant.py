"""manage.py create_tenant prints how the owner signs in, then a working token as its last line."""
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from tenants.models import Membership, Role, Tenant
from tests.tenants.links import GOOD_PASSWORD, choose_password, link_in, open_link

pytestmark = pytest.mark.django_db


def test_last_line_is_a_token_that_works():
    out = StringIO()
    call_command("create_tenant", "acme", "--owner", "ops@acme.test", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    assert Membership.objects.get(tenant__slug="acme").role == Role.OWNER
    client = APIClient()
    response = client.get("/api/plugins/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_TENANT_SLUG="acme")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["Bad Slug!", "--owner", "a@b.test"], "slug"),
        (["acme", "--owner", "not-an-email"], "--owner"),
        (["acme", "--owner", "a@b.test", "--timezone", "Mars/Base"], "timezone"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(args, problem):
    with pytest.raises(CommandError) as excinfo:
        call_command("create_tenant", *args, stdout=StringIO())
    assert problem in str(excinfo.value)
    assert not Tenant.objects.exists()


def test_existing_slug_is_refused():
    call_command("create_tenant", "acme", "--owner", "a@b.test", stdout=StringIO())
    with pytest.raises(CommandError, match="exists"):
        call_command("create_tenant", "acme", "--owner", "c@d.test", stdout=StringIO())


# --------------------------------------------------------------------------- how the owner signs in


def _run(*args):
    out = StringIO()
    call_command("create_tenant", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_the_line_before_the_token_header_is_a_sign_in_link_that_works_once(client):
    lines = _run("acme", "--owner", "ops@acme.test")
    assert lines[-2].startswith("API token") and lines[-1].startswith("pyd_")
    assert lines[-4].startswith("Sign-in link")
    link = link_in(lines[-3])
    response = choose_password(client, link)
    assert response.status_code == 302 and response["Location"] == "/"
    user = Membership.objects.get(tenant__slug="acme").user
    assert user.check_password(GOOD_PASSWORD)
    assert client.session["_auth_user_id"] == str(user.pk)
    again = open_link(Client(), link)
    assert again.status_code == 400 and "no longer works" in again.content.decode()


def test_base_url_comes_from_the_setting(settings):
    settings.PLUGYARD_BASE_URL = "https://plugins.example.com/"
    lines = _run("acme", "--owner", "ops@acme.test")
    assert link_in("\n".join(lines)).startswith("https://plugins.example.com/accounts/set-password/")


def test_password_option_sets_it_and_prints_no_link():
    lines = _run("acme", "--owner", "ops@acme.test", "--password", "correct-Horse-battery-7")
    assert not any("set-password" in line for line in lines)
    assert "http://127.0.0.1:8000/accounts/login/" in lines
    assert Membership.objects.get(tenant__slug="acme").user.check_password("correct-Horse-battery-7")
    assert lines[-1].startswith("pyd_")


def test_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("PLUGYARD_OWNER_PASSWORD", "correct-Horse-battery-7")
    lines = _run("acme", "--owner", "ops@acme.test")
    assert any("PLUGYARD_OWNER_PASSWORD" in line for line in lines)
    assert Membership.objects.get(tenant__slug="acme").user.check_password("correct-Horse-battery-7")


@pytest.mark.parametrize(
    ("password", "env", "field"),
    [("short", None, "--password"), ("password123", None, "--password"), (None, "1234", "PLUGYARD_OWNER_PASSWORD")],
)
def test_weak_password_names_the_field_and_stores_nothing(monkeypatch, password, env, field):
    if env:
        monkeypatch.setenv("PLUGYARD_OWNER_PASSWORD", env)
    args = ["acme", "--owner", "ops@acme.test"] + (["--password", password] if password else [])
    with pytest.raises(CommandError) as excinfo:
        call_command("create_tenant", *args, stdout=StringIO())
    assert str(excinfo.value).startswith(f"{field}:")
    assert not Tenant.objects.exists()
    assert not get_user_model().objects.exists()


def test_an_existing_account_with_a_password_gets_no_reset_link():
    get_user_model().objects.create_user("ops", "ops@acme.test", "their-own-Passphrase-1")
    lines = _run("acme", "--owner", "ops@acme.test")
    assert not any("set-password" in line for line in lines)
    assert any("has a password already" in line for line in lines)
    assert get_user_model().objects.get(username="ops").check_password("their-own-Passphrase-1")
