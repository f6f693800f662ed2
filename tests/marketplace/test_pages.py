"""The marketplace pages through Django's test client, signed in with a session."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from marketplace.models import Category, Listing, ListingStatus, PricingModel
from plugins_core import services
from plugins_core.models import Installation, Plugin, PluginVersion
from tenants.models import Membership, Role, Tenant
from tests.conftest import make_zip, plugin_files, upload
from tests.marketplace.conftest import confirm_install

pytestmark = pytest.mark.django_db


def _names(response) -> list[str]:
    """The plugin names on a browse page, in order."""
    return re.findall(r'<h2 class="card-title"[^>]*>\s*<a [^>]*>([^<]+)</a>', response.content.decode())


@pytest.fixture
def catalogue(publish):
    """Three published listings with different categories and prices, and two unpublished."""
    return {
        "monitor": publish(
            "device-watch", name="Device Watch", description="Watches devices for anomalies",
            keywords=["uptime", "devices"], category="monitoring",
        ),
        "billing": publish(
            "invoice-sync", name="Invoice Sync", description="Copies invoices to accounting",
            keywords=["finance"], category="integration", pricing={"model": "one-time", "price": 9},
        ),
        "ai": publish(
            "smart-summary", name="Smart Summary", description="Summarises tickets with an LLM",
            keywords=["llm", "tickets"], category="ai", pricing={"model": "subscription", "price": 5},
        ),
        "draft": publish("secret-draft", name="Secret Draft", status=ListingStatus.DRAFT),
        "review": publish("under-review", name="Under Review", status=ListingStatus.IN_REVIEW),
    }


# --------------------------------------------------------------------------- sign-in


def test_anonymous_visitors_are_sent_to_the_login_page(client, catalogue):
    for url in ["/", "/plugins/device-watch/", "/installed/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_login_page_signs_a_member_in(client, make_actor):
    actor = make_actor("acme", "admin")
    user = actor.membership.user
    user.set_password("correct horse battery")
    user.save()

    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()

    response = client.post("/accounts/login/", {"username": user.username, "password": "correct horse battery"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_user_without_a_tenant_gets_a_clear_403(client, django_user_model):
    client.force_login(django_user_model.objects.create(username="loner"))
    response = client.get("/")
    assert response.status_code == 403
    assert "does not belong to any tenant" in response.content.decode()


# --------------------------------------------------------------------------- browse


def test_browse_shows_published_listings_only(admin_page, catalogue):
    _, client = admin_page
    response = client.get("/")
    assert response.status_code == 200
    assert _names(response) == ["Device Watch", "Invoice Sync", "Smart Summary"]


def test_browse_cards_show_summary_category_and_price(admin_page, catalogue):
    _, client = admin_page
    page = client.get("/").content.decode()
    assert "Watches devices for anomalies" in page
    assert "Monitoring" in page and "Integration" in page
    assert ">Free<" in page
    assert "$9.00 one-time" in page
    assert "$5.00 / month" in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"q": "invoice"}, ["Invoice Sync"]),  # name
        ({"q": "ANOMALIES"}, ["Device Watch"]),  # summary, case-insensitive
        ({"q": "llm"}, ["Smart Summary"]),  # keyword
        ({"q": "secret"}, []),  # drafts are not searchable
        ({"category": "integration"}, ["Invoice Sync"]),
        ({"pricing": PricingModel.SUBSCRIPTION}, ["Smart Summary"]),
        ({"pricing": PricingModel.FREE}, ["Device Watch"]),
        ({"q": "s", "category": "ai", "pricing": "subscription"}, ["Smart Summary"]),
        ({"q": "invoice", "category": "ai"}, []),
    ],
)
def test_browse_searches_and_filters(admin_page, catalogue, query, expected):
    _, client = admin_page
    response = client.get("/", query)
    assert response.status_code == 200
    assert _names(response) == expected


def test_browse_says_when_nothing_matches(admin_page, catalogue):
    _, client = admin_page
    page = client.get("/", {"q": "nothing-like-this"}).content.decode()
    assert "No plugins match" in page


@pytest.mark.parametrize(
    "query, field",
    [
        ({"category": "no-such-category"}, "Category"),
        ({"pricing": "gratis"}, "Pricing"),
        ({"q": "x" * 101}, "Search"),
    ],
)
def test_bad_filter_values_answer_400_with_the_problem(admin_page, catalogue, query, field):
    _, client = admin_page
    response = client.get("/", query)
    assert response.status_code == 400
    page = response.content.decode()
    assert "These filters can’t be used" in page
    assert f"<strong>{field}:</strong>" in page
    assert _names(response) == []


def test_a_nonsense_page_number_shows_a_page_not_an_error(admin_page, catalogue):
    _, client = admin_page
    assert client.get("/", {"page": "banana"}).status_code == 200
    assert client.get("/", {"page": "9999"}).status_code == 200


def test_installed_badge_is_for_the_current_tenant_only(admin_page, make_actor, catalogue):
    actor, client = admin_page
    services.install_version(actor.tenant, None, catalogue["billing"].plugin.latest_version)
    other = make_actor("globex", "owner")
    services.install_version(other.tenant, None, catalogue["ai"].plugin.latest_version)

    page = client.get("/").content.decode()
    cards = {m.group(1): m.group(0) for m in re.finditer(r'id="plugin-([a-z-]+)".*?</article>', page, re.S)}
    assert "Installed" in cards["invoice-sync"]
    assert "Installed" not in cards["smart-summary"]
    assert "Installed" not in cards["device-watch"]


def _browse_queries(client) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get("/", {"q": "p", "pricing": "free"})
    assert response.status_code == 200
    return len(context.captured_queries)


def _more_listings(publisher_tenant, tenant, start: int, stop: int) -> None:
    category = Category.objects.get_or_create(slug="tools", defaults={"name": "Tools"})[0]
    for index in range(start, stop):
        plugin = Plugin.objects.create(slug=f"bulk-{index}", name=f"Bulk plugin {index}", publisher=publisher_tenant)
        version = PluginVersion.objects.create(
            plugin=plugin, version="1.0.0", manifest={"permissions": ["db.read"]},
            package=f"packages/bulk-{index}.zip", package_format="zip", sha256=f"{index:064d}", size=1,
        )
        Listing.objects.create(plugin=plugin, category=category, summary="A plugin", status=ListingStatus.PUBLISHED)
        if index % 2:
            Installation.objects.create(tenant=tenant, plugin=plugin, version=version)


def test_browse_query_count_does_not_grow_with_listings(admin_page, publisher):
    actor, client = admin_page
    _more_listings(publisher.tenant, actor.tenant, 0, 5)
    client.get("/")  # warm the session
    few = _browse_queries(client)

    _more_listings(publisher.tenant, actor.tenant, 5, 50)
    response = client.get("/", {"q": "p", "pricing": "free"})
    assert len(_names(response)) == 24  # a full page of the 50
    assert "Installed" in response.content.decode()
    assert _browse_queries(client) == few


# --------------------------------------------------------------------------- detail


def test_detail_shows_what_the_plugin_does_and_asks_for(admin_page, catalogue):
    _, client = admin_page
    response = client.get("/plugins/invoice-sync/")
    assert response.status_code == 200
    page = response.content.decode()
    for text in [
        "Invoice Sync",
        "Copies invoices to accounting",  # description
        "Your Name",  # author
        "Version 1.0.0",
        "$9.00 one-time",
        # permissions in their canonical spelling, each with its description
        "devices.read", "List and read devices.",
        "alerts.write", "Create, acknowledge and resolve alerts.",
        "users.read",
        # events, routes (mounted under /ext/<slug>), config schema fields
        "device.created", "device.metrics_updated",
        "/ext/invoice-sync/status", "/ext/invoice-sync/devices/{device_id}/stats",
        "threshold", "Anomaly detection threshold", "0.8",
        "Install for Acme",
    ]:
        assert text in page, text


def test_detail_of_an_sbh_plugin_lists_its_jobs_and_events(admin_page, publisher):
    _, client = admin_page
    assert upload(publisher, make_zip(plugin_files("sbh-my-plugin"))).status_code == 201
    Listing.objects.filter(plugin__slug="my-plugin").update(status=ListingStatus.PUBLISHED)
    page = client.get("/plugins/my-plugin/").content.decode()
    assert "daily_cleanup" in page and "0 2 * * *" in page
    assert "At 02:00 AM" in page  # the schedule in words, beside the expression
    assert "auth.user.created" in page and "build.completed" in page
    assert "A user account was created in the tenant." in page  # what the event means
    assert "Is told afterwards and reacts" in page and "Priority" not in page
    assert "outbound_http" in page and "Make HTTP requests" in page
    assert "/ext/my-plugin/ping" in page and "Health check endpoint" in page  # the route's docstring


@pytest.mark.parametrize("slug", ["secret-draft", "under-review", "no-such-plugin"])
def test_unpublished_or_unknown_listings_answer_404(admin_page, catalogue, slug):
    _, client = admin_page
    response = client.get(f"/plugins/{slug}/")
    assert response.status_code == 404
    assert "No published plugin" in response.content.decode()
    assert client.post(f"/plugins/{slug}/install/").status_code == 404
    assert not Installation.objects.filter(plugin__slug=slug, tenant__slug="acme").exists()


def test_members_see_why_they_cannot_install(member_page, catalogue):
    _, client = member_page
    page = client.get("/plugins/device-watch/").content.decode()
    assert "Ask an admin to install it" in page
    assert "/plugins/device-watch/install/" not in page


# --------------------------------------------------------------------------- install


def test_an_admin_installs_a_plugin(admin_page, catalogue):
    actor, client = admin_page
    response = confirm_install(client, "device-watch")
    installation = Installation.objects.for_tenant(actor.tenant).get(plugin__slug="device-watch")
    assert response.status_code == 302
    assert response["Location"] == f"/installed/{installation.pk}/"
    assert installation.enabled is False
    assert installation.version == catalogue["monitor"].plugin.latest_version
    assert installation.installed_by == actor.membership.user

    page = client.get(response["Location"]).content.decode()
    assert "Installed Device Watch 1.0.0" in page  # the message
    assert f'id="installation-{installation.pk}"' in client.get("/installed/").content.decode()

    detail = client.get("/plugins/device-watch/").content.decode()
    assert "Installed · off" in detail and "Manage installation" in detail
    assert "/plugins/device-watch/install/" not in detail


def test_installing_twice_keeps_one_installation(admin_page, catalogue):
    actor, client = admin_page
    confirm_install(client, "device-watch")
    response = client.post("/plugins/device-watch/install/", {"version": catalogue["monitor"].plugin.latest_version.pk,
                                                              "confirm": "yes"}, follow=True)
    assert "was already installed" in response.content.decode()
    assert Installation.objects.for_tenant(actor.tenant).filter(plugin__slug="device-watch").count() == 1


def test_a_member_may_not_install(member_page, catalogue):
    actor, client = member_page
    response = client.post("/plugins/device-watch/install/")
    assert response.status_code == 403
    assert "admin or owner role" in response.content.decode()
    assert not Installation.objects.for_tenant(actor.tenant).exists()


def test_install_answers_get_with_its_consent_page_and_nothing_else(admin_page, catalogue):
    actor, client = admin_page
    assert client.get("/plugins/device-watch/install/").status_code == 200
    assert client.put("/plugins/device-watch/install/").status_code == 405
    assert not Installation.objects.for_tenant(actor.tenant).exists()


def test_install_needs_a_csrf_token(make_actor, catalogue):
    actor = make_actor("acme", "owner")
    client = Client(enforce_csrf_checks=True)
    client.force_login(actor.membership.user)
    assert client.post("/plugins/device-watch/install/").status_code == 403
    assert not Installation.objects.for_tenant(actor.tenant).exists()


# --------------------------------------------------------------------------- installed


@pytest.fixture
def two_tenants_installed(admin_page, make_actor, catalogue):
    actor, client = admin_page
    mine = services.install_version(actor.tenant, None, catalogue["monitor"].plugin.latest_version)
    other = make_actor("globex", "owner")
    theirs = services.install_version(other.tenant, None, catalogue["ai"].plugin.latest_version)
    return actor, client, mine, theirs


def test_installed_lists_the_tenants_own_installations(two_tenants_installed):
    _, client, mine, theirs = two_tenants_installed
    page = client.get("/installed/").content.decode()
    assert f'id="installation-{mine.pk}"' in page and "Device Watch" in page
    assert f'id="installation-{theirs.pk}"' not in page and "Smart Summary" not in page
    assert f"/installed/{mine.pk}/enable/" in page


def test_an_admin_enables_and_disables(two_tenants_installed):
    _, client, mine, _ = two_tenants_installed
    response = client.post(f"/installed/{mine.pk}/enable/", follow=True)
    mine.refresh_from_db()
    assert mine.enabled and "devices.read" in mine.granted_permissions
    assert "Enabled Device Watch" in response.content.decode()

    client.post(f"/installed/{mine.pk}/disable/")
    mine.refresh_from_db()
    assert not mine.enabled


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_another_tenants_installation_answers_404(two_tenants_installed, action):
    _, client, _, theirs = two_tenants_installed
    response = client.post(f"/installed/{theirs.pk}/{action}/")
    assert response.status_code == 404
    assert "has no installation number" in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.enabled is False
    assert client.post(f"/installed/{theirs.pk + 1000}/{action}/").status_code == 404


def test_a_member_sees_installations_but_may_not_switch_them(member_page, catalogue):
    actor, client = member_page
    installation = services.install_version(actor.tenant, None, catalogue["monitor"].plugin.latest_version)
    page = client.get("/installed/").content.decode()
    assert "Device Watch" in page
    assert "/enable/" not in page
    assert "Only admins and owners can enable" in page

    response = client.post(f"/installed/{installation.pk}/enable/")
    assert response.status_code == 403
    installation.refresh_from_db()
    assert installation.enabled is False


# --------------------------------------------------------------------------- tenant switcher


def test_a_user_in_two_tenants_switches_between_them(admin_page, catalogue):
    actor, client = admin_page
    globex = Tenant.objects.create(slug="globex", name="Globex")
    Membership.objects.create(user=actor.membership.user, tenant=globex, role=Role.MEMBER)
    services.install_version(globex, None, catalogue["ai"].plugin.latest_version)

    page = client.get("/installed/").content.decode()
    assert 'name="tenant"' in page and "Smart Summary" not in page

    response = client.post("/tenant/", {"tenant": "globex", "next": "/installed/"})
    assert response.status_code == 302 and response["Location"] == "/installed/"
    page = client.get("/installed/").content.decode()
    assert "Smart Summary" in page and "Only admins and owners" in page

    # and as a member of globex, installing is refused
    assert client.post("/plugins/device-watch/install/").status_code == 403


def test_switching_to_a_foreign_tenant_is_refused(admin_page, make_actor):
    actor, client = admin_page
    make_actor("globex", "owner")
    response = client.post("/tenant/", {"tenant": "globex"})
    assert response.status_code == 400
    assert "only switch to a tenant you are a member of" in response.content.decode()
    assert "marketplace.tenant_id" not in client.session


def test_switching_does_not_redirect_off_site(admin_page):
    _, client = admin_page
    response = client.post("/tenant/", {"tenant": "acme", "next": "https://evil.example/"})
    assert response["Location"] == "/"
