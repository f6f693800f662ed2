"""Installing asks for consent first: what the version may do and cost, then an explicit yes;
and the version offered is the one staff approved, not whatever was uploaded last."""
from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace import review
from marketplace.listings import installable_version
from marketplace.models import Listing, ListingStatus, PricingModel, ReviewStatus
from plugins_core.models import Installation
from tests.conftest import upload
from tests.marketplace.conftest import confirm_install, weather_zip

pytestmark = pytest.mark.django_db


def installed(actor) -> list[Installation]:
    return list(Installation.objects.for_tenant(actor.tenant).select_related("version"))


# --------------------------------------------------------------------------- the consent page


def test_the_consent_page_says_what_it_may_do_and_cost(admin_page, weather):
    # given a paid weather-feed with a trial
    _, client = admin_page
    Listing.objects.filter(pk=weather.pk).update(pricing_model=PricingModel.SUBSCRIPTION, price=Decimal("5"), trial_days=14)

    # when an admin opens Install
    response = client.get("/plugins/weather-feed/install/")

    # then every thing it asks for is there, in words, with the price and the trial
    assert response.status_code == 200
    page = response.content.decode()
    for text in [
        "Install Weather Feed 1.0.0?",
        "Make HTTP requests",  # outbound_http, in plain language
        "outbound_http",
        "api.weather.example",  # allowed_domains
        "API_TOKEN", "The weather service&#x27;s API token",  # a declared secret, with its description
        "REGION_KEY",  # one its code reads
        "$5.00 / month", "14-day free trial, then $5.00 / month",
        'name="confirm" value="yes"',
    ]:
        assert text in page, text
    assert installed(admin_page[0]) == []  # looking installs nothing


def test_a_free_plugin_without_domains_or_secrets_says_so(admin_page, publish):
    _, client = admin_page
    publish("quiet-one", permissions=[], allowed_domains=[])
    page = client.get("/plugins/quiet-one/install/").content.decode()
    assert "Free" in page and "free trial" not in page
    assert "It asks for no permissions" in page
    assert "None: it cannot send requests to the internet." in page


def test_the_detail_page_links_to_the_consent_page(admin_page, weather):
    _, client = admin_page
    page = client.get("/plugins/weather-feed/").content.decode()
    assert 'href="/plugins/weather-feed/install/"' in page
    assert 'method="post" action="/plugins/weather-feed/install/"' not in page


# --------------------------------------------------------------------------- confirming


def test_a_post_without_the_confirmation_installs_nothing(admin_page, weather):
    actor, client = admin_page
    response = client.post("/plugins/weather-feed/install/")
    assert response.status_code == 302 and response["Location"] == "/plugins/weather-feed/install/"
    response = client.post("/plugins/weather-feed/install/", {"version": weather.plugin.latest_version.pk})
    assert response.status_code == 302
    assert installed(actor) == []


@pytest.mark.parametrize("fields, status, text", [
    ({"version": "abc"}, 400, "version: Enter a whole number."),
    ({"confirm": "maybe"}, 400, "confirm: Select a valid choice."),
    ({"version": ""}, 400, "version: This field is required."),
])
def test_a_malformed_confirmation_is_a_400_page_and_installs_nothing(admin_page, weather, fields, status, text):
    actor, client = admin_page
    response = confirm_install(client, "weather-feed", **fields)
    assert response.status_code == status
    page = response.content.decode()
    assert text in page and "nothing was installed" in page
    assert installed(actor) == []


def test_confirming_installs_it_switched_off(admin_page, weather):
    actor, client = admin_page
    response = confirm_install(client, "weather-feed")
    [installation] = installed(actor)
    assert response.status_code == 302 and response["Location"] == f"/installed/{installation.pk}/"
    assert installation.enabled is False and installation.granted_permissions == []


def test_a_member_gets_403_on_the_consent_page_and_its_post(member_page, weather):
    actor, client = member_page
    assert client.get("/plugins/weather-feed/install/").status_code == 403
    response = confirm_install(client, "weather-feed")
    assert response.status_code == 403 and "admin or owner role" in response.content.decode()
    assert installed(actor) == []


# --------------------------------------------------------------------------- the approved version


@pytest.fixture
def reviewed(weather, publisher):
    """weather-feed 1.0.0 approved by staff; then 1.1.0 uploaded and submitted, not yet approved."""
    listing = review.approve(weather, None)
    assert upload(publisher, weather_zip(version="1.1.0"), "weather-feed.zip").status_code == 201
    newer = listing.plugin.versions.get(version="1.1.0")
    review.submit(listing.plugin, newer, None)
    listing.refresh_from_db()
    assert listing.status == ListingStatus.PUBLISHED and listing.review_status == ReviewStatus.PENDING
    return listing, newer


def test_the_marketplace_offers_and_installs_the_approved_version(admin_page, reviewed):
    actor, client = admin_page
    listing, newer = reviewed

    detail = client.get("/plugins/weather-feed/").content.decode()
    consent = client.get("/plugins/weather-feed/install/").content.decode()
    assert "Install Weather Feed 1.0.0?" in consent and "1.1.0" not in consent
    assert "1.0.0" in detail

    assert confirm_install(client, "weather-feed").status_code == 302
    [installation] = installed(actor)
    assert installation.version.version == "1.0.0"  # not the latest upload, 1.1.0


def test_a_post_for_another_version_than_offered_is_a_409_and_installs_nothing(admin_page, reviewed):
    actor, client = admin_page
    _, newer = reviewed
    response = confirm_install(client, "weather-feed", version=newer.pk)  # e.g. a stale or crafted form
    assert response.status_code == 409
    assert "the version on offer is now 1.0.0" in response.content.decode()
    assert installed(actor) == []


def test_once_approved_the_newer_version_is_offered(admin_page, reviewed):
    _, client = admin_page
    listing, newer = reviewed
    review.approve(listing, None)
    listing.refresh_from_db()
    assert installable_version(listing) == newer
    assert "Install Weather Feed 1.1.0?" in client.get("/plugins/weather-feed/install/").content.decode()


def test_a_listing_that_predates_reviews_offers_its_latest_version(weather, publisher):
    assert weather.review_status == ReviewStatus.NOT_SUBMITTED and weather.approved_version is None
    assert upload(publisher, weather_zip(version="1.2.0"), "weather-feed.zip").status_code == 201
    assert installable_version(Listing.objects.get(pk=weather.pk)).version == "1.2.0"


def test_such_a_listing_keeps_offering_its_version_while_a_newer_one_waits(weather, publisher):
    assert upload(publisher, weather_zip(version="1.1.0"), "weather-feed.zip").status_code == 201
    review.submit(weather.plugin, weather.plugin.versions.get(version="1.1.0"), None)
    assert installable_version(Listing.objects.get(pk=weather.pk)).version == "1.0.0"


def test_nothing_approved_is_nothing_to_install(admin_page, weather):
    actor, client = admin_page
    Listing.objects.filter(pk=weather.pk).update(review_status=ReviewStatus.REJECTED, approved_version=None)
    response = client.get("/plugins/weather-feed/install/")
    assert response.status_code == 409 and "no version approved" in response.content.decode()
    assert confirm_install(client, "weather-feed").status_code == 409
    assert installed(actor) == []
