"""The installed plugin's page in a real headless Chromium: a tenant admin installs a plugin
that needs a setting and secrets, is told what is missing, fills them in, enables it, sees
its route's invocation (run by the session's real sandbox service) and uninstalls it.

The screenshots (refused, installation, uninstall) stay in the test's tmp_path; set
PLUGYARD_SCREENSHOT_DIR to keep copies for review.
"""
from __future__ import annotations

import json
import os
import urllib.request

import pytest

from marketplace.models import Listing, ListingStatus
from plugins_core.models import Installation, Secret
from plugins_core.secrets import read_secret
from tenants.models import Tenant
from tests.browser.test_marketplace_browser import CHROMIUM, PASSWORD, _screenshot, page  # noqa: F401
from tests.conftest import upload
from tests.marketplace.conftest import weather_zip

TOKEN = "browser-token-5e4d3c2b1a-never-shown"
REGION = "browser-region-9z8y7x-never-shown"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's chromium is not installed at {CHROMIUM}"),
]


@pytest.fixture
def weather_admin(transactional_db, make_actor):
    """weather-feed published by a publisher, and an admin of acme who can sign in."""
    publisher = make_actor("plugin-house", "developer")
    assert upload(publisher, weather_zip(), "weather-feed.zip").status_code == 201
    Listing.objects.filter(plugin__slug="weather-feed").update(status=ListingStatus.PUBLISHED)
    admin = make_actor("acme", "admin")
    Tenant.objects.filter(pk=admin.tenant.pk).update(name="Acme Corp")
    user = admin.membership.user
    user.set_password(PASSWORD)
    user.save()
    return admin


def _get_route(base: str, admin, path: str) -> dict:
    request = urllib.request.Request(f"{base}/ext/weather-feed/{path}", headers={
        "Authorization": f"Bearer {admin.token}", "X-Tenant-Slug": admin.tenant.slug,
    })
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_an_admin_sets_up_enables_watches_and_uninstalls_a_plugin(live_server, weather_admin, page, tmp_path):  # noqa: F811
    admin, base = weather_admin, live_server.url
    seen: list[str] = []

    page.goto(f"{base}/accounts/login/?next=/plugins/weather-feed/")
    page.get_by_label("Username").fill(admin.membership.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/plugins/weather-feed/")

    # Install from the listing, confirming on the consent page: it lands on the plugin's page.
    page.get_by_role("link", name="Install for Acme Corp").click()
    page.wait_for_url(f"{base}/plugins/weather-feed/install/")
    assert "api.weather.example" in page.locator("#consent-domains").inner_text()
    page.get_by_role("button", name="Install for Acme Corp").click()
    page.wait_for_url(f"{base}/installed/*/")
    installation = Installation.objects.for_tenant(admin.tenant).get(plugin__slug="weather-feed")
    page.wait_for_url(f"{base}/installed/{installation.pk}/")
    page.get_by_role("heading", level=1, name="Weather Feed").wait_for()

    # Enabling first is refused, naming what is missing, with links to the forms.
    page.get_by_role("button", name="Enable", exact=True).click()
    refused = page.get_by_role("alert").filter(has_text="was not enabled")
    refused.wait_for()
    assert refused.get_by_role("link", name="config.api_url").get_attribute("href") == "#setting-api_url"
    assert refused.get_by_role("link", name="secrets.API_TOKEN").is_visible()
    assert refused.get_by_role("link", name="secrets.REGION_KEY").is_visible()
    _screenshot(page, tmp_path, "refused")

    # The settings form, from the config schema: a bad value is named on its field.
    page.get_by_label("api_url").fill("http://not-https.example")
    page.get_by_label("units").select_option(label="imperial")
    page.get_by_label("refresh_minutes").fill("30")
    page.get_by_label("cities").fill("Oslo\nLima")
    page.get_by_role("button", name="Save settings").click()
    page.locator("#setting-api_url .field-error").wait_for()
    assert "does not match '^https://'" in page.locator("#setting-api_url .field-error").inner_text()
    page.get_by_label("api_url").fill("https://api.weather.example/v2")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Saved the settings of Weather Feed.").wait_for()
    installation.refresh_from_db()
    assert installation.config["api_url"] == "https://api.weather.example/v2"
    assert installation.config["units"] == "imperial" and installation.config["cities"] == ["Oslo", "Lima"]

    # The secrets: typed once, then only "set".
    page.get_by_label("API_TOKEN").fill(TOKEN)
    page.get_by_label("REGION_KEY").fill(REGION)
    page.get_by_role("button", name="Save secrets").click()
    page.get_by_text("Saved API_TOKEN, REGION_KEY for Weather Feed.").wait_for()
    assert page.locator('[data-secret-state="API_TOKEN"]').inner_text() == "set"
    assert page.get_by_label("API_TOKEN").input_value() == ""
    assert read_secret(installation, "API_TOKEN") == TOKEN
    seen.append(page.content())

    # Enable, then call its route: the invocation shows in its activity.
    page.get_by_role("button", name="Enable", exact=True).click()
    page.get_by_text("Enabled Weather Feed").wait_for()
    assert page.locator("#state").inner_text() == "Enabled"
    answer = _get_route(base, admin, "forecast")
    assert answer == {"api_url": "https://api.weather.example/v2", "units": "imperial",
                      "has_token": True, "has_region": True}
    page.reload()
    row = page.locator(".activity-row").first
    assert "forecast" in row.inner_text() and row.locator(".badge").inner_text() == "ok"
    seen.append(page.content())
    _screenshot(page, tmp_path, "installation")

    # Uninstall: first what it deletes and keeps, then gone.
    page.get_by_role("link", name="Uninstall…").click()
    page.get_by_role("heading", name="Uninstall Weather Feed?").wait_for()
    assert page.locator("#deleted").get_by_text("its secrets (2 set)").is_visible()
    assert "file storage" in page.locator("#kept").inner_text()
    seen.append(page.content())
    _screenshot(page, tmp_path, "uninstall")
    page.get_by_role("button", name="Uninstall Weather Feed").click()
    page.wait_for_url(f"{base}/installed/")
    page.get_by_text("Uninstalled Weather Feed.").wait_for()
    assert not Installation.objects.filter(pk=installation.pk).exists()
    assert not Secret.objects.filter(installation_id=installation.pk).exists()
    assert all(TOKEN not in html and REGION not in html for html in seen)
