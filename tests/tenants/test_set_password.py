"""The set-password page behind every sign-in link: good, mismatched, weak, used, expired, mangled."""
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator

from tenants.links import set_password_url
from tests.tenants.links import GOOD_PASSWORD, choose_password, open_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def invited(owner):
    """A member who was invited and has not chosen a password yet."""
    from tenants.models import Membership

    user = get_user_model().objects.create(username="new@acme.test", email="new@acme.test")
    user.set_unusable_password()
    user.save()
    Membership.objects.create(user=user, tenant=owner.tenant, role="member")
    return user


def test_good_password_signs_in_and_lands_in_the_marketplace(client, invited):
    response = choose_password(client, set_password_url(invited))
    assert response.status_code == 302 and response["Location"] == "/"
    invited.refresh_from_db()
    assert invited.check_password(GOOD_PASSWORD)
    landing = client.get("/")
    assert landing.status_code == 200
    assert "Your password is set and you are signed in." in landing.content.decode()


def test_the_form_names_the_account_and_has_csrf(client, invited):
    form_url = open_link(client, set_password_url(invited))["Location"]
    page = client.get(form_url).content.decode()
    assert "For new@acme.test." in page and "csrfmiddlewaretoken" in page


def test_mismatched_passwords_are_refused_and_nothing_is_set(client, invited):
    response = choose_password(client, set_password_url(invited), again="something-Else-entirely-4")
    assert response.status_code == 200
    assert "didn’t match" in response.content.decode()
    invited.refresh_from_db()
    assert not invited.has_usable_password()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(("password", "message"), [("short1", "too short"), ("password123", "too common")])
def test_weak_password_shows_the_validators_message(client, invited, password, message):
    response = choose_password(client, set_password_url(invited), password=password)
    assert response.status_code == 200
    assert message in response.content.decode()
    invited.refresh_from_db()
    assert not invited.has_usable_password()


def test_a_used_link_says_so_and_what_to_do(client, invited):
    link = set_password_url(invited)
    assert choose_password(client, link).status_code == 302
    response = open_link(client, link)
    assert response.status_code == 400
    page = response.content.decode()
    assert "no longer works" in page and "invite you again" in page


def test_an_expired_link_says_so(client, invited, settings, monkeypatch):
    link = set_password_url(invited)
    later = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    monkeypatch.setattr(default_token_generator, "_now", lambda: later)
    response = open_link(client, link)
    assert response.status_code == 400 and "no longer works" in response.content.decode()


def test_a_link_expiring_while_the_form_is_open_is_refused_on_submit(client, invited, settings):
    form_url = open_link(client, set_password_url(invited))["Location"]
    settings.PASSWORD_RESET_TIMEOUT = -1
    response = client.post(form_url, {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD})
    assert response.status_code == 400
    invited.refresh_from_db()
    assert not invited.has_usable_password()


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/set-password/zzz/abc-def/",
        "/accounts/set-password/OTk5OTk/abc-def/",  # a uid nobody has
        "/accounts/set-password/%00%ff/set-password/",
        "/accounts/set-password/MQ/not-a-token/",
    ],
)
def test_mangled_links_are_a_400_page_not_a_500(client, invited, path):
    response = client.get(path)
    assert response.status_code == 400
    assert "no longer works" in response.content.decode()


def test_the_page_lifetime_follows_the_setting(client, invited, settings):
    settings.PASSWORD_RESET_TIMEOUT = 7200
    response = client.get("/accounts/set-password/zzz/abc-def/")
    assert "2 hours" in response.content.decode()
