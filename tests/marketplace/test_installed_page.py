"""The installed plugin's page: settings from its schema, write-only secrets, enable with
readiness, uninstall behind a confirmation, its activity; and every way it can go wrong."""
from __future__ import annotations

import logging
import re

import pytest
from django.test import Client

from marketplace.models import Listing, ListingStatus
from plugins_core import secrets, services
from plugins_core.events.emit import emit
from plugins_core.models import (
    Installation,
    Invocation,
    JobRun,
    PluginStorageItem,
    ScheduledTask,
    Secret,
    WebhookDelivery,
)
from tests.conftest import upload
from tests.marketplace.conftest import confirm_install, weather_zip

pytestmark = pytest.mark.django_db

TOKEN = "tok-9f8e7d6c5b4a-do-not-show"
REGION = "region-key-0a1b2c3d-do-not-show"
GOOD = {
    "setting__api_url": "https://api.weather.example/v2",
    "setting__units": '"imperial"',
    "setting__refresh_minutes": "30",
    "setting__threshold": "0.55",
    "setting__cities": "Oslo\nLima\n",
}


@pytest.fixture
def mine(admin_page, weather):
    """weather-feed installed for acme from the marketplace, switched off, nothing set yet."""
    actor, client = admin_page
    installation = services.install_version(actor.tenant, actor.membership.user, weather.plugin.latest_version)
    return actor, client, installation


def url(installation, action: str = "") -> str:
    return f"/installed/{installation.pk}/" + (f"{action}/" if action else "")


def settings_post(installation, **fields) -> dict:
    return {"version": installation.version_id, **GOOD, **fields}


def field_block(page: str, anchor: str) -> str:
    """The HTML of one field's block on the page (``setting-x`` or ``secret-X``)."""
    match = re.search(rf'<div class="field[^"]*" id="{anchor}">(.*?)\n          </div>', page, re.S)
    assert match, f"no field block {anchor}"
    return match.group(1)


def set_everything(client, installation) -> None:
    assert client.post(url(installation, "settings"), settings_post(installation)).status_code == 302
    posted = {"version": installation.version_id, "secret__API_TOKEN": TOKEN, "secret__REGION_KEY": REGION}
    assert client.post(url(installation, "secrets"), posted).status_code == 302


# --------------------------------------------------------------------------- the settings form


def test_the_settings_form_is_generated_from_the_config_schema(mine):
    _, client, installation = mine
    response = client.get(url(installation))
    assert response.status_code == 200
    page = response.content.decode()

    api_url = field_block(page, "setting-api_url")
    assert 'type="text" name="setting__api_url"' in api_url and 'aria-required="true"' in api_url
    assert '<span class="required">required</span>' in api_url
    assert "Where the weather service answers" in api_url  # the description as help text

    units = field_block(page, "setting-units")
    assert "<select" in units and '<option value="&quot;metric&quot;" selected>metric</option>' in units
    assert '<option value="&quot;imperial&quot;">imperial</option>' in units
    assert "required" in units and "Default: <code>metric</code>" in units

    minutes = field_block(page, "setting-refresh_minutes")
    assert 'type="number"' in minutes and 'step="1"' in minutes and 'value="15"' in minutes
    assert '<span class="required">' not in minutes
    assert 'step="any"' in field_block(page, "setting-threshold")
    alerts = field_block(page, "setting-alerts")
    assert 'type="checkbox"' in alerts and "checked" in alerts
    cities = field_block(page, "setting-cities")
    assert "<textarea" in cities and "One per line." in cities
    assert page.count("csrfmiddlewaretoken") == page.count('method="post"') == 4  # sign out too


def test_valid_settings_are_saved_as_typed_json(mine):
    _, client, installation = mine
    response = client.post(url(installation, "settings"), settings_post(installation))
    assert response.status_code == 302 and response["Location"] == f"{url(installation)}#settings"
    installation.refresh_from_db()
    assert installation.config == {
        "api_url": "https://api.weather.example/v2", "units": "imperial", "refresh_minutes": 30,
        "threshold": 0.55, "alerts": False, "cities": ["Oslo", "Lima"],
    }
    assert "Saved the settings of Weather Feed" in client.get(response["Location"]).content.decode()


def test_invalid_settings_show_the_validators_messages_by_field_and_save_nothing(mine):
    actor, client, installation = mine
    before = dict(installation.config)
    bad = {"setting__api_url": "ftp://weather.example", "setting__refresh_minutes": "0",
           "setting__threshold": "lots", "setting__cities": "Oslo\nX"}

    response = client.post(url(installation, "settings"), settings_post(installation, **bad))

    assert response.status_code == 400
    page = response.content.decode()
    assert "&#x27;ftp://weather.example&#x27; does not match &#x27;^https://&#x27;" in field_block(page, "setting-api_url")
    assert "0 is less than the minimum of 1" in field_block(page, "setting-refresh_minutes")
    assert "&#x27;lots&#x27; is not of type &#x27;number&#x27;" in field_block(page, "setting-threshold")
    assert "cities[1]: &#x27;X&#x27; is too short" in field_block(page, "setting-cities")
    assert 'value="ftp://weather.example"' in page  # what was typed stays in the form
    installation.refresh_from_db()
    assert installation.config == before

    # The same messages as the API's config endpoint gives: one validator.
    api = actor.client.patch(f"/api/plugins/{installation.pk}/config",
                             {"api_url": "ftp://weather.example", "refresh_minutes": 0, "threshold": "lots"},
                             format="json")
    assert api.status_code == 400
    for detail in api.json()["error"]["details"]:
        assert detail["message"].replace("'", "&#x27;") in page


def test_a_required_setting_left_empty_is_named_on_its_field(mine):
    _, client, installation = mine
    response = client.post(url(installation, "settings"), settings_post(installation, setting__api_url=""))
    assert response.status_code == 400
    assert "&#x27;api_url&#x27; is a required property" in field_block(response.content.decode(), "setting-api_url")
    installation.refresh_from_db()
    assert "api_url" not in installation.config


def test_an_empty_setting_with_a_default_goes_back_to_it(mine):
    _, client, installation = mine
    client.post(url(installation, "settings"), settings_post(installation))
    client.post(url(installation, "settings"), settings_post(installation, setting__refresh_minutes=""))
    installation.refresh_from_db()
    assert installation.config["refresh_minutes"] == 15


# --------------------------------------------------------------------------- secrets


def test_every_needed_secret_is_listed_set_or_not(mine):
    _, client, installation = mine
    page = client.get(url(installation)).content.decode()
    token = field_block(page, "secret-API_TOKEN")
    assert "The weather service&#x27;s API token" in token  # declared, with its description
    assert 'data-secret-state="API_TOKEN">not set<' in token and 'type="password"' in token
    region = field_block(page, "secret-REGION_KEY")  # only main.py reads it
    assert "Used by main.py" in region and ">not set<" in region


def test_secret_values_are_write_only_and_never_in_a_page_or_a_log(mine, caplog):
    actor, client, installation = mine
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="plugyard.activity")
    seen: list[str] = []

    response = client.post(url(installation, "secrets"),
                           {"version": installation.version_id, "secret__API_TOKEN": TOKEN, "secret__REGION_KEY": REGION})
    assert response.status_code == 302 and response["Location"] == f"{url(installation)}#secrets"
    assert secrets.read_secret(installation, "API_TOKEN") == TOKEN
    assert secrets.read_secret(installation, "REGION_KEY") == REGION
    seen.append(client.get(response["Location"]).content.decode())  # with the "Saved" message
    assert "Saved API_TOKEN, REGION_KEY for Weather Feed" in seen[-1]
    assert 'data-secret-state="API_TOKEN">set<' in seen[-1] and 'data-secret-state="REGION_KEY">set<' in seen[-1]

    # a failed save re-renders the form: it does not echo what was typed
    too_big = {"version": installation.version_id, "secret__API_TOKEN": TOKEN + "x" * 70000}
    seen.append(client.post(url(installation, "secrets"), too_big).content.decode())
    assert "A secret may be at most 65536 bytes." in seen[-1]

    set_everything(client, installation)
    client.post(url(installation, "enable"), {"next": "page"})
    assert actor.client.get("/ext/weather-feed/forecast").json()["has_token"] is True
    for path in [url(installation), "/installed/", "/plugins/weather-feed/", url(installation, "uninstall"),
                 f"{url(installation)}?show=invocations"]:
        seen.append(client.get(path).content.decode())
    seen.append(actor.client.get(f"/api/plugins/{installation.pk}").content.decode())
    seen.append(actor.client.get(f"/api/plugins/{installation.pk}/invocations").content.decode())

    logged = "\n".join(f"{r.getMessage()} {r.args!r} {getattr(r, 'request', '')!r}" for r in caplog.records)
    for value in (TOKEN, REGION):
        assert all(value not in text for text in seen)
        assert value not in logged
        assert all(value.encode() not in bytes(s.ciphertext) for s in Secret.objects.all())


def test_empty_secret_inputs_change_nothing(mine):
    _, client, installation = mine
    secrets.set_secret(installation, "API_TOKEN", TOKEN)
    response = client.post(url(installation, "secrets"),
                           {"version": installation.version_id, "secret__API_TOKEN": "", "secret__REGION_KEY": ""})
    assert response.status_code == 400
    assert "empty inputs change nothing" in response.content.decode()
    assert secrets.read_secret(installation, "API_TOKEN") == TOKEN
    assert not Secret.objects.filter(installation=installation, name="REGION_KEY").exists()


# --------------------------------------------------------------------------- enable, readiness


def test_enable_is_refused_naming_what_is_missing_with_links_to_the_forms(mine):
    _, client, installation = mine
    page = client.get(url(installation)).content.decode()
    assert "Before it can be enabled:" in page and 'href="#setting-api_url"' in page

    for origin in ("page", ""):  # from the page, and from the Installed list
        response = client.post(url(installation, "enable"), {"next": origin})
        assert response.status_code == 400
        refused = re.search(r'<div class="alert alert-error" role="alert" id="refused">(.*?)</div>',
                            response.content.decode(), re.S).group(1)
        assert re.findall(r'<a href="#([^"]+)"><code>([^<]+)</code></a>', refused) == [
            ("setting-api_url", "config.api_url"), ("secret-API_TOKEN", "secrets.API_TOKEN"),
            ("secret-REGION_KEY", "secrets.REGION_KEY"),
        ]
        assert "The setting api_url is required and has no default" in refused
        installation.refresh_from_db()
        assert installation.enabled is False

    set_everything(client, installation)
    response = client.post(url(installation, "enable"), {"next": "page"})
    assert response.status_code == 302 and response["Location"] == url(installation)
    installation.refresh_from_db()
    assert installation.enabled is True and installation.granted_permissions == ["outbound_http"]
    page = client.get(url(installation)).content.decode()
    assert "Enabled Weather Feed" in page and "Running: every setting and secret it needs is set." in page

    response = client.post(url(installation, "disable"), {"next": "page"})
    assert response["Location"] == url(installation)
    installation.refresh_from_db()
    assert installation.enabled is False


def test_the_api_refuses_enable_the_same_way_with_field_paths(mine):
    actor, _, installation = mine
    response = actor.client.post(f"/api/plugins/{installation.pk}/enable")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["message"] == (
        "Weather Feed cannot be enabled until these are set: config.api_url, secrets.API_TOKEN, secrets.REGION_KEY."
    )
    assert [(d["field"], d["code"]) for d in error["details"]] == [
        ("config.api_url", "required"), ("secrets.API_TOKEN", "required"), ("secrets.REGION_KEY", "required"),
    ]
    installation.refresh_from_db()
    assert installation.enabled is False

    assert actor.client.patch(f"/api/plugins/{installation.pk}/config", {"api_url": "https://w.example"},
                              format="json").status_code == 200
    for name in ("API_TOKEN", "REGION_KEY"):
        assert actor.client.put(f"/api/plugins/{installation.pk}/secrets/{name}", {"value": "v"},
                                format="json").status_code == 204
    assert actor.client.post(f"/api/plugins/{installation.pk}/enable").status_code == 200


# --------------------------------------------------------------------------- uninstall


def test_uninstall_first_says_what_it_deletes_then_deletes_it(mine):
    _, client, installation = mine
    set_everything(client, installation)
    client.post(url(installation, "enable"))
    PluginStorageItem.objects.create(installation=installation, key="last", value={"t": 1}, size=10)
    assert ScheduledTask.objects.filter(installation=installation).count() == 1  # the refresh job

    response = client.get(url(installation, "uninstall"))
    assert response.status_code == 200
    page = response.content.decode()
    deleted = re.search(r'<ul class="consequences" id="deleted">(.*?)</ul>', page, re.S).group(1)
    kept = re.search(r'<ul class="consequences" id="kept">(.*?)</ul>', page, re.S).group(1)
    assert "its secrets (2 set)" in deleted
    assert "its key-value storage (1 key)" in deleted
    assert "its 1 schedule (jobs and scheduled tasks" in deleted and "they stop firing" in deleted
    assert "files it wrote to Acme’s file storage" in kept and "stay" in kept
    assert Installation.objects.filter(pk=installation.pk).exists()  # asking deletes nothing

    response = client.post(url(installation, "uninstall"))
    assert response.status_code == 302 and response["Location"] == "/installed/"
    assert not Installation.objects.filter(pk=installation.pk).exists()
    assert not Secret.objects.filter(installation_id=installation.pk).exists()
    assert not PluginStorageItem.objects.filter(installation_id=installation.pk).exists()
    assert not ScheduledTask.objects.filter(installation_id=installation.pk).exists()
    assert "Uninstalled Weather Feed" in client.get("/installed/").content.decode()


# --------------------------------------------------------------------------- activity


def _rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="activity-row[^"]*">.*?<code>([^<]+)</code>.*?<span class="badge [^"]+">([a-z]+)</span>',
                      page, re.S)


def test_activity_lists_a_real_route_call_and_failures_with_their_error(mine):
    actor, client, installation = mine
    set_everything(client, installation)
    client.post(url(installation, "enable"))
    assert actor.client.get("/ext/weather-feed/forecast").status_code == 200
    assert actor.client.get("/ext/weather-feed/fail").status_code == 502

    page = client.get(url(installation)).content.decode()
    assert _rows(page) == [("fail", "error"), ("forecast", "ok")]  # newest first
    assert "ValueError: the weather service said no" in page

    failures = client.get(url(installation), {"show": "invocations", "status": "error"}).content.decode()
    assert _rows(failures) == [("fail", "error")]


def test_activity_has_job_runs_and_webhook_deliveries_paginated_and_filtered(mine, make_actor, weather):
    actor, client, installation = mine
    for number in range(23):
        Invocation.objects.create(tenant=actor.tenant, installation=installation, kind="hook",
                                  name=f"h{number:02d}", status="ok")
    job = Invocation.objects.create(tenant=actor.tenant, installation=installation, kind="job", name="refresh",
                                    status="timeout", error="the job ran past its 30 s deadline")
    JobRun.objects.create(tenant=actor.tenant, installation=installation, kind="job", name="refresh",
                          trigger="run-now", invocation=job)
    event = emit(actor.tenant, "build.completed", {"build_id": 1, "status": "success"})
    WebhookDelivery.objects.create(tenant=actor.tenant, installation=installation, webhook="notify", event=event,
                                   status="failed", attempts=6, error="HTTP 500 from hooks.example")
    WebhookDelivery.objects.create(tenant=actor.tenant, installation=installation, webhook="notify",
                                   event=emit(actor.tenant, "build.completed", {"build_id": 2, "status": "ok"}),
                                   status="succeeded", attempts=1)
    other = make_actor("globex", "owner")
    theirs = services.install_version(other.tenant, None, weather.plugin.latest_version)
    Invocation.objects.create(tenant=other.tenant, installation=theirs, kind="hook", name="not-ours", status="ok")

    first = client.get(url(installation)).content.decode()
    assert [name for name, _ in _rows(first)] == ["refresh"] + [f"h{n:02d}" for n in range(22, 3, -1)]
    assert "Page 1 of 2" in first and "not-ours" not in first
    second = client.get(url(installation), {"page": 2}).content.decode()
    assert [name for name, _ in _rows(second)] == ["h03", "h02", "h01", "h00"]

    jobs = client.get(url(installation), {"show": "jobs"}).content.decode()
    assert _rows(jobs) == [("refresh", "timeout")] and "the job ran past its 30 s deadline" in jobs
    failed = client.get(url(installation), {"show": "webhooks", "status": "failed"}).content.decode()
    assert _rows(failed) == [("webhooks/notify.yaml", "failed")] and "HTTP 500 from hooks.example" in failed
    assert len(_rows(client.get(url(installation), {"show": "webhooks"}).content.decode())) == 2

    bad = client.get(url(installation), {"show": "webhooks", "status": "timeout"})
    assert bad.status_code == 400 and "Select a valid choice" in bad.content.decode()


# --------------------------------------------------------------------------- who may do what

ACTIONS = [
    ("post", "settings", lambda i: settings_post(i)),
    ("post", "secrets", lambda i: {"version": i.version_id, "secret__API_TOKEN": TOKEN}),
    ("post", "enable", lambda i: {}),
    ("post", "disable", lambda i: {}),
    ("get", "uninstall", lambda i: {}),
    ("post", "uninstall", lambda i: {}),
]


def test_a_member_sees_the_page_but_every_action_is_403(member_page, weather):
    actor, client = member_page
    installation = services.install_version(actor.tenant, None, weather.plugin.latest_version)
    page = client.get(url(installation)).content.decode()
    assert "Only admins and owners of Acme can change this plugin" in page
    assert "Save settings" not in page and 'type="password"' not in page and "/enable/" not in page
    assert '<fieldset class="stack plain" disabled>' in page

    for method, action, data in ACTIONS:
        response = getattr(client, method)(url(installation, action), data(installation))
        assert response.status_code == 403, action
        assert "admin or owner role" in response.content.decode(), action
    installation.refresh_from_db()
    assert installation.enabled is False and "api_url" not in installation.config
    assert not Secret.objects.filter(installation=installation).exists()


def test_another_tenants_installation_is_404_everywhere(mine, make_actor, weather):
    _, client, _ = mine
    other = make_actor("globex", "owner")
    theirs = services.install_version(other.tenant, None, weather.plugin.latest_version)
    response = client.get(url(theirs))
    assert response.status_code == 404
    assert f"Acme has no installation number {theirs.pk}" in response.content.decode()
    for method, action, data in ACTIONS:
        assert getattr(client, method)(url(theirs, action), data(theirs)).status_code == 404, action
    theirs.refresh_from_db()
    assert theirs.config.get("api_url") is None and not theirs.secrets.exists()


def test_every_form_needs_its_csrf_token(mine):
    actor, _, installation = mine
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(actor.membership.user)
    for method, action, data in ACTIONS:
        if method == "post":
            assert strict.post(url(installation, action), data(installation)).status_code == 403, action
    assert Installation.objects.filter(pk=installation.pk, enabled=False).exists()
    assert not Secret.objects.filter(installation=installation).exists()


# --------------------------------------------------------------------------- no 500s


def test_a_form_opened_before_an_update_is_refused_as_stale(mine, publisher):
    actor, client, installation = mine
    old = installation.version_id
    assert upload(publisher, weather_zip(version="1.1.0"), "weather-feed.zip").status_code == 201
    services.install_version(actor.tenant, None, installation.plugin.latest_version)

    for action, data in [("settings", {**GOOD, "version": old}),
                         ("secrets", {"version": old, "secret__API_TOKEN": TOKEN})]:
        response = client.post(url(installation, action), data)
        assert response.status_code == 409, action
        page = response.content.decode()
        assert "was updated from version 1.0.0 to version 1.1.0" in page and "Nothing was saved" in page
        assert f'href="{url(installation)}"' in page
    installation.refresh_from_db()
    assert "api_url" not in installation.config and not installation.secrets.exists()


def test_a_form_of_an_uninstalled_plugin_says_it_is_gone(mine):
    _, client, installation = mine
    pk = installation.pk
    services.uninstall(installation)
    installation.pk = pk  # the page a person still has open names it
    for method, action, data in ACTIONS:
        response = getattr(client, method)(url(installation, action), data(installation))
        assert response.status_code == 404, action
        assert "It may have been uninstalled" in response.content.decode()


def test_installing_over_another_publishers_slug_is_a_409_page(admin_page, make_actor, weather):
    actor, client = admin_page
    own = make_actor("acme", "developer")  # acme publishes its own weather-feed
    assert upload(own, weather_zip(name="Home-made Weather"), "weather-feed.zip").status_code == 201

    response = confirm_install(client, "weather-feed")

    assert response.status_code == 409
    page = response.content.decode()
    assert "Acme already has a plugin called “weather-feed” installed: Home-made Weather, published by Acme" in page
    assert "uninstall that one first; nothing was installed" in page
    mine_ = Installation.objects.for_tenant(actor.tenant).get()
    assert mine_.plugin.publisher == actor.tenant and f'href="{url(mine_)}"' in page


def test_installing_a_withdrawn_listing_says_so(admin_page, weather):
    _, client = admin_page
    Listing.objects.filter(pk=weather.pk).update(status=ListingStatus.DRAFT)
    response = client.post("/plugins/weather-feed/install/")
    assert response.status_code == 404
    assert "It may have been withdrawn from the marketplace" in response.content.decode()


def test_the_page_of_an_unlisted_plugin_still_works(mine, weather):
    _, client, installation = mine
    Listing.objects.filter(pk=weather.pk).update(status=ListingStatus.DRAFT)
    response = client.get(url(installation))
    assert response.status_code == 200 and "No longer listed in the marketplace" in response.content.decode()
