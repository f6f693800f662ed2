"""Paid listings through one entitlement interface: the default records a trial and shows its
end; a refused entitlement (or an ended trial) blocks enable on the page and in the API."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from marketplace import entitlements
from marketplace.entitlements import Decision, Entitlements
from marketplace.models import Entitlement, EntitlementKind, Listing, PricingModel
from plugins_core import secrets, services
from plugins_core.models import Installation
from tests.marketplace.conftest import confirm_install

pytestmark = pytest.mark.django_db


class RefuseAll(Entitlements):
    """A host whose billing says no to everything."""

    def start(self, tenant, listing, user):
        return Decision.refuse("Your plan does not include paid plugins; upgrade it in Billing.", code="plan_refused")

    def check(self, tenant, listing):
        return Decision.refuse("Your plan does not include paid plugins; upgrade it in Billing.", code="plan_refused")


REFUSE_ALL = "tests.marketplace.test_entitlements.RefuseAll"


def paid(listing, trial_days: int = 14) -> Listing:
    Listing.objects.filter(pk=listing.pk).update(pricing_model=PricingModel.SUBSCRIPTION, price=Decimal("5"),
                                                 trial_days=trial_days)
    return Listing.objects.select_related("plugin").get(pk=listing.pk)


def make_ready(installation: Installation) -> Installation:
    """Everything but the entitlement: its required setting and both secrets set."""
    services.update_config(installation, {"api_url": "https://api.weather.example/v2"})
    secrets.set_secret(installation, "API_TOKEN", "tok-not-shown")
    secrets.set_secret(installation, "REGION_KEY", "region-not-shown")
    return Installation.objects.select_related("plugin", "version", "tenant").get(pk=installation.pk)


@pytest.fixture
def installed_paid(admin_page, weather):
    """weather-feed as a $5/month listing with a 14-day trial, installed by acme with consent."""
    actor, client = admin_page
    paid(weather)
    response = confirm_install(client, "weather-feed")
    assert response.status_code == 302
    installation = make_ready(Installation.objects.for_tenant(actor.tenant).get())
    return actor, client, installation


# --------------------------------------------------------------------------- the default: a trial


def test_installing_a_paid_listing_records_a_trial_and_the_page_shows_its_end(installed_paid):
    actor, client, installation = installed_paid
    [entitlement] = Entitlement.objects.for_tenant(actor.tenant)
    assert entitlement.kind == EntitlementKind.TRIAL and entitlement.started_by == actor.membership.user
    assert abs(entitlement.trial_ends_at - (timezone.now() + timedelta(days=14))) < timedelta(minutes=1)

    page = client.get(f"/installed/{installation.pk}/").content.decode()
    ends = timezone.localtime(entitlement.trial_ends_at)
    assert "Free trial" in page and f"{ends:%b} {ends.day}, {ends.year}" in page

    assert client.post(f"/installed/{installation.pk}/enable/", {"next": "page"}).status_code == 302
    installation.refresh_from_db()
    assert installation.enabled is True


def test_installing_again_keeps_the_one_trial(installed_paid):
    actor, client, _ = installed_paid
    before = Entitlement.objects.for_tenant(actor.tenant).get()
    confirm_install(client, "weather-feed")
    assert list(Entitlement.objects.for_tenant(actor.tenant)) == [before]


def test_an_ended_trial_cannot_be_enabled_on_the_page_or_in_the_api(installed_paid):
    actor, client, installation = installed_paid
    Entitlement.objects.for_tenant(actor.tenant).update(trial_ends_at=timezone.now() - timedelta(days=1))

    page = client.get(f"/installed/{installation.pk}/").content.decode()
    assert "Cannot be enabled:" in page and "Its trial ended on" in page

    response = client.post(f"/installed/{installation.pk}/enable/", {"next": "page"})
    assert response.status_code == 400 and "Its trial ended on" in response.content.decode()

    response = actor.client.post(f"/api/plugins/{installation.pk}/enable")
    assert response.status_code == 400
    assert [(d["field"], d["code"]) for d in response.json()["error"]["details"]] == [("entitlement", "trial_ended")]
    installation.refresh_from_db()
    assert installation.enabled is False


def test_a_listing_without_a_trial_is_refused_by_the_default(admin_page, weather):
    actor, client = admin_page
    paid(weather, trial_days=0)
    response = confirm_install(client, "weather-feed", )
    page = client.get(response["Location"]).content.decode()
    assert "It cannot be enabled yet" in page and "takes no payments itself" in page
    installation = make_ready(Installation.objects.for_tenant(actor.tenant).get())
    assert actor.client.post(f"/api/plugins/{installation.pk}/enable").status_code == 400


def test_free_listings_and_a_publishers_own_plugin_need_nothing(admin_page, weather, publisher):
    actor, client = admin_page
    confirm_install(client, "weather-feed")
    assert not Entitlement.objects.exists()
    paid(weather)
    own = Installation.objects.for_tenant(publisher.tenant).get()
    assert entitlements.decision_for(own) is None  # the publisher runs its own plugin unbilled


# --------------------------------------------------------------------------- the host's class


def test_a_refusing_entitlement_class_blocks_enable_on_the_page_and_in_the_api(installed_paid):
    actor, client, installation = installed_paid
    with override_settings(PLUGYARD_ENTITLEMENTS=REFUSE_ALL):
        page = client.get(f"/installed/{installation.pk}/").content.decode()
        assert "Your plan does not include paid plugins" in page

        response = client.post(f"/installed/{installation.pk}/enable/", {"next": "page"})
        assert response.status_code == 400
        assert "was not enabled" in response.content.decode()

        response = actor.client.post(f"/api/plugins/{installation.pk}/enable")
        assert response.status_code == 400
        body = response.json()
        assert body["error"]["details"] == [{"field": "entitlement", "code": "plan_refused",
                                    "message": "Your plan does not include paid plugins; upgrade it in Billing."}]
    installation.refresh_from_db()
    assert installation.enabled is False and installation.granted_permissions == []


def test_a_refusal_at_install_is_said_and_the_plugin_is_installed_off(admin_page, weather):
    actor, client = admin_page
    paid(weather)
    with override_settings(PLUGYARD_ENTITLEMENTS=REFUSE_ALL):
        response = confirm_install(client, "weather-feed")
        page = client.get(response["Location"]).content.decode()
    assert "It cannot be enabled yet: Your plan does not include paid plugins" in page
    assert Installation.objects.for_tenant(actor.tenant).get().enabled is False


@pytest.mark.parametrize("path", ["marketplace.entitlements.NoSuchClass", "no_such_module.Billing",
                                  "marketplace.models.Listing"])
def test_a_wrong_dotted_path_is_improperly_configured_naming_the_setting(path):
    with override_settings(PLUGYARD_ENTITLEMENTS=path), pytest.raises(ImproperlyConfigured, match="PLUGYARD_ENTITLEMENTS"):
        entitlements.get_entitlements()


def test_a_wrong_dotted_path_stops_manage_py_at_its_system_check():
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with override_settings(PLUGYARD_ENTITLEMENTS="no_such_module.Billing"), pytest.raises(
            SystemCheckError, match=r"marketplace.E001.*PLUGYARD_ENTITLEMENTS"):
        call_command("check")
    call_command("check")  # the default passes


def test_the_admin_lists_entitlements_read_only(installed_paid, client):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser("staff", "staff@x.test", "pw-long-enough-1")
    client.force_login(staff)
    response = client.get("/admin/marketplace/entitlement/")
    assert response.status_code == 200 and "weather-feed" in response.content.decode()
    entitlement = Entitlement.objects.get()
    page = client.get(f"/admin/marketplace/entitlement/{entitlement.pk}/change/").content.decode()
    assert 'name="_save"' not in page
