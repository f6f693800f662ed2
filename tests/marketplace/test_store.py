"""A store worth browsing (issue 10, point 6): install counts, tenants' ratings and reviews,
icons and screenshots from the package, changelog and version history, sorts, featured."""
from __future__ import annotations

import os
import re
from typing import Any

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace import views
from marketplace.models import Listing, ListingStatus, PackageMedia, PluginReview
from plugins_core.models import Installation, Plugin, PluginVersion
from tenants.models import Tenant
from tests.conftest import make_tar_gz, plugin_files, upload

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><script>alert(1)</script><rect/></svg>'
CHANGELOG = b"""# Changelog

## 1.1.0
- Adds **daily** digests
- Escapes <script>alert("x")</script> in `names`

## 1.0.0
First release.
"""


def store_package(slug: str, version: str = "1.0.0", extra: dict[str, bytes] | None = None, **fields: Any) -> bytes:
    """The Ops-Center fixture plugin with its id, version, and extra files (static/, CHANGELOG.md)."""
    files = plugin_files("ops-my-plugin")
    manifest = yaml.safe_load(files["plugin.yaml"])
    manifest.update({"id": slug, "name": slug.replace("-", " ").title(), "version": version, **fields})
    files["plugin.yaml"] = yaml.safe_dump(manifest, sort_keys=False).encode()
    return make_tar_gz({**files, **(extra or {})}, top=f"{slug}-{version}")


@pytest.fixture
def shop(publisher):
    """Upload a plugin (with extra files) through the API and publish its listing."""

    def do(slug: str, version: str = "1.0.0", *, status: str = ListingStatus.PUBLISHED,
           extra: dict[str, bytes] | None = None, **fields: Any) -> Listing:
        response = upload(publisher, store_package(slug, version, extra, **fields), f"{slug}.tar.gz")
        assert response.status_code == 201, response.content
        Listing.objects.filter(plugin__slug=slug).update(status=status)
        return Listing.objects.select_related("plugin").get(plugin__slug=slug)

    return do


def install(tenant: Tenant, plugin: Plugin) -> Installation:
    version = plugin.latest_version
    return Installation.objects.create(tenant=tenant, plugin=plugin, version=version)


def tenants(count: int, prefix: str = "t") -> list[Tenant]:
    return [Tenant.objects.create(slug=f"{prefix}{n}", name=f"{prefix.upper()}{n}") for n in range(count)]


def _names(response) -> list[str]:
    return re.findall(r'<h2 class="card-title"[^>]*>\s*<a [^>]*>([^<]+)</a>', response.content.decode())


# --------------------------------------------------------------------------- install counts


def test_cards_and_detail_show_how_many_tenants_installed_it(admin_page, shop):
    _actor, client = admin_page
    watch = shop("device-watch")
    shop("quiet-one")
    for tenant in tenants(3):
        install(tenant, watch.plugin)

    # The publisher's upload installed it in plugin-house too: 4 tenants.
    browse = client.get("/").content.decode()
    assert re.search(r"Device Watch.*?4 installs", browse, re.S)
    assert re.search(r"Quiet One.*?1 install\b", browse, re.S)
    assert "4 installs" in client.get("/plugins/device-watch/").content.decode()


# --------------------------------------------------------------------------- ratings and reviews


def test_an_admin_of_a_tenant_that_installed_it_reviews_once_and_edits(admin_page, shop):
    actor, client = admin_page
    listing = shop("device-watch")
    install(actor.tenant, listing.plugin)

    page = client.get("/plugins/device-watch/").content.decode()
    assert 'action="/plugins/device-watch/review/"' in page and "csrfmiddlewaretoken" in page

    response = client.post("/plugins/device-watch/review/", {"rating": "4", "text": "Solid."})
    assert response.status_code == 302
    response = client.post("/plugins/device-watch/review/", {"rating": "2", "text": "Got worse."})
    assert response.status_code == 302

    review = PluginReview.objects.get()
    assert (review.tenant, review.rating, review.text, review.author) == (
        actor.tenant, 2, "Got worse.", actor.membership.user)
    page = client.get("/plugins/device-watch/").content.decode()
    assert "Got worse." in page and "Solid." not in page
    assert "2.0" in page and "(1 rating)" in page
    assert "Update review" in page


def test_average_and_count_on_cards_come_from_every_tenant(admin_page, shop):
    _actor, client = admin_page
    listing = shop("device-watch")
    for tenant, rating in zip(tenants(3), [5, 4, 4], strict=True):
        install(tenant, listing.plugin)
        PluginReview.objects.create(tenant=tenant, plugin=listing.plugin, rating=rating)

    assert re.search(r"Device Watch.*?4\.3.*?\(3 ratings\)", client.get("/").content.decode(), re.S)


def test_a_tenant_that_has_not_installed_it_cannot_review(admin_page, shop):
    _actor, client = admin_page
    shop("device-watch")

    page = client.get("/plugins/device-watch/").content.decode()
    assert "Tenants that install Device Watch can rate and review it." in page
    response = client.post("/plugins/device-watch/review/", {"rating": "5", "text": "Great"})
    assert response.status_code == 403
    assert "has not installed Device Watch" in response.content.decode()
    assert not PluginReview.objects.exists()


def test_a_member_reads_reviews_but_cannot_write_one(member_page, shop):
    actor, client = member_page
    listing = shop("device-watch")
    install(actor.tenant, listing.plugin)
    other = tenants(1)[0]
    PluginReview.objects.create(tenant=other, plugin=listing.plugin, rating=3, text="Does the job")

    page = client.get("/plugins/device-watch/").content.decode()
    assert "Does the job" in page and 'action="/plugins/device-watch/review/"' not in page
    assert client.post("/plugins/device-watch/review/", {"rating": "5"}).status_code == 403
    assert PluginReview.objects.count() == 1


@pytest.mark.parametrize("data, field", [
    ({"rating": "6", "text": "x"}, "1 to 5 stars"),
    ({"rating": "0"}, "1 to 5 stars"),
    ({"rating": "nope"}, "1 to 5 stars"),
    ({"text": "no stars"}, "Choose from 1 to 5 stars."),
    ({"rating": "3", "text": "x" * 1001}, "at most 1000 characters"),
])
def test_bad_input_shows_field_errors_and_saves_nothing(admin_page, shop, data, field):
    actor, client = admin_page
    listing = shop("device-watch")
    install(actor.tenant, listing.plugin)

    response = client.post("/plugins/device-watch/review/", data)

    assert response.status_code == 400
    assert field in response.content.decode()
    assert "The review was not saved" in response.content.decode()
    assert not PluginReview.objects.exists()


def test_the_review_form_needs_its_csrf_token(admin_page, shop):
    from django.test import Client

    actor, _client = admin_page
    listing = shop("device-watch")
    install(actor.tenant, listing.plugin)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(actor.membership.user)

    assert strict.post("/plugins/device-watch/review/", {"rating": "5"}).status_code == 403
    assert not PluginReview.objects.exists()


def test_reviews_do_not_name_the_tenant_that_wrote_them(admin_page, shop):
    _actor, client = admin_page
    listing = shop("device-watch")
    secretive = Tenant.objects.create(slug="secret-customer", name="Secret Customer Ltd")
    install(secretive, listing.plugin)
    PluginReview.objects.create(tenant=secretive, plugin=listing.plugin, rating=5, text="Love it")

    page = client.get("/plugins/device-watch/").content.decode()
    assert "Love it" in page and "Secret Customer" not in page


# --------------------------------------------------------------------------- icon, screenshots


def test_icon_and_screenshots_are_served_with_safe_headers(admin_page, shop):
    _actor, client = admin_page
    listing = shop("device-watch", extra={
        "static/icon.svg": SVG,
        "static/screenshots/1-overview.png": PNG,
        "static/screenshots/2-fake.png": b"<html><script>alert(1)</script></html>",  # not a PNG: not shown
        "static/screenshots/notes.txt": b"not an image",
    })
    version = listing.plugin.latest_version
    media = PackageMedia.objects.get(version=version)
    assert (media.icon, media.screenshots) == ("static/icon.svg", ["static/screenshots/1-overview.png"])

    icon_url = f"/plugins/device-watch/media/{version.pk}/static/icon.svg"
    assert icon_url in client.get("/").content.decode()  # the card shows the package's icon
    page = client.get("/plugins/device-watch/").content.decode()
    assert icon_url in page and f"/plugins/device-watch/media/{version.pk}/static/screenshots/1-overview.png" in page

    icon = client.get(icon_url)
    assert icon.status_code == 200 and icon.content == SVG
    assert icon["Content-Type"] == "image/svg+xml"
    assert icon["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in icon["Content-Security-Policy"] and "script-src" not in icon["Content-Security-Policy"]
    assert "sandbox" in icon["Content-Security-Policy"]
    shot = client.get(f"/plugins/device-watch/media/{version.pk}/static/screenshots/1-overview.png")
    assert shot.status_code == 200 and shot["Content-Type"] == "image/png" and shot.content == PNG


@pytest.mark.parametrize("name", [
    "static/screenshots/2-fake.png",  # in the package, but not an image
    "plugin.yaml",  # in the package, not media
    "../../../etc/passwd",
    "static/../plugin.yaml",
    "static/screenshots/../../main.py",
    "%2e%2e/%2e%2e/plugin.yaml",
])
def test_anything_but_a_recorded_image_is_404(admin_page, shop, name):
    _actor, client = admin_page
    listing = shop("device-watch", extra={"static/icon.png": PNG, "static/screenshots/2-fake.png": b"<html>"})
    version = listing.plugin.latest_version

    assert client.get(f"/plugins/device-watch/media/{version.pk}/{name}").status_code == 404


def test_media_of_an_unpublished_listing_or_another_plugins_version_is_404(admin_page, shop):
    _actor, client = admin_page
    draft = shop("secret-draft", status=ListingStatus.DRAFT, extra={"static/icon.png": PNG})
    shop("device-watch", extra={"static/icon.png": PNG})
    draft_version = draft.plugin.latest_version

    assert client.get(f"/plugins/secret-draft/media/{draft_version.pk}/static/icon.png").status_code == 404
    # A published slug does not open another plugin's version.
    assert client.get(f"/plugins/device-watch/media/{draft_version.pk}/static/icon.png").status_code == 404


def test_an_oversized_icon_is_not_shown(admin_page, shop):
    _actor, client = admin_page
    listing = shop("device-watch", extra={"static/icon.png": PNG + os.urandom(256 * 1024)})

    assert PackageMedia.objects.get(version=listing.plugin.latest_version).icon == ""
    assert "/media/" not in client.get("/").content.decode()


def test_a_version_uploaded_before_the_store_looked_is_looked_at_on_first_view(admin_page, shop):
    _actor, client = admin_page
    listing = shop("device-watch", extra={"static/logo.png": PNG, "CHANGELOG.md": CHANGELOG})
    PackageMedia.objects.all().delete()

    page = client.get("/plugins/device-watch/").content.decode()

    assert "static/logo.png" in page and "First release." in page
    assert PackageMedia.objects.filter(version=listing.plugin.latest_version).exists()


# --------------------------------------------------------------------------- changelog, versions


def test_changelog_is_rendered_escaped_and_each_version_has_its_entry(admin_page, shop):
    _actor, client = admin_page
    shop("device-watch", "1.0.0", extra={"CHANGELOG.md": CHANGELOG.split(b"## 1.1.0")[0] + b"## 1.0.0\nFirst release.\n"})
    shop("device-watch", "1.1.0", extra={"CHANGELOG.md": CHANGELOG})

    page = client.get("/plugins/device-watch/").content.decode()

    changelog = page.split('id="changelog"')[1].split("</section>")[0]
    assert "<strong>daily</strong>" in changelog and "<code>names</code>" in changelog
    assert "<script>" not in page.replace("<script>alert(1)", "")  # nothing from the file runs
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in changelog
    history = page.split('id="versions"')[1].split("</section>")[0]
    assert history.index("1.1.0") < history.index("1.0.0")
    assert "Adds **daily** digests" in history and "First release." in history


def test_a_newer_version_waiting_for_review_is_not_announced(admin_page, shop):
    _actor, client = admin_page
    first = shop("device-watch", "1.0.0", extra={"static/icon.png": PNG})
    Listing.objects.filter(pk=first.pk).update(approved_version=first.plugin.latest_version)
    shop("device-watch", "2.0.0", extra={"static/icon.png": PNG, "CHANGELOG.md": b"## 2.0.0\nSecret plans\n"})
    pending = PluginVersion.objects.get(plugin=first.plugin, version="2.0.0")

    page = client.get("/plugins/device-watch/").content.decode()
    assert "Secret plans" not in page and "2.0.0" not in page.split('id="versions"')[1]
    assert client.get(f"/plugins/device-watch/media/{pending.pk}/static/icon.png").status_code == 404
    assert client.get(f"/plugins/device-watch/media/{first.plugin.versions.get(version='1.0.0').pk}/static/icon.png").status_code == 200


def test_a_package_without_changelog_shows_versions_only(admin_page, shop):
    _actor, client = admin_page
    shop("device-watch")

    page = client.get("/plugins/device-watch/").content.decode()
    assert 'id="changelog"' not in page and 'id="versions"' in page


# --------------------------------------------------------------------------- sort, featured


@pytest.fixture
def ranked(shop):
    """Three listings: most installed, best rated, newest — each a different one."""
    alpha, beta, gamma = shop("alpha-tool"), shop("beta-tool"), shop("gamma-tool")
    people = tenants(3)
    for tenant in people:
        install(tenant, beta.plugin)
    install(people[0], alpha.plugin)
    PluginReview.objects.create(tenant=people[0], plugin=alpha.plugin, rating=5)
    PluginReview.objects.create(tenant=people[0], plugin=beta.plugin, rating=2)
    return alpha, beta, gamma


@pytest.mark.parametrize("sort, expected", [
    ("", ["Alpha Tool", "Beta Tool", "Gamma Tool"]),
    ("name", ["Alpha Tool", "Beta Tool", "Gamma Tool"]),
    ("popular", ["Beta Tool", "Alpha Tool", "Gamma Tool"]),
    ("rating", ["Alpha Tool", "Beta Tool", "Gamma Tool"]),
    ("newest", ["Gamma Tool", "Beta Tool", "Alpha Tool"]),
])
def test_browse_sorts(admin_page, ranked, sort, expected):
    _actor, client = admin_page

    response = client.get("/", {"sort": sort})

    assert response.status_code == 200
    assert _names(response) == expected


def test_an_unknown_sort_is_a_field_error_not_a_500(admin_page, ranked):
    _actor, client = admin_page

    response = client.get("/", {"sort": "price; DROP TABLE"})

    assert response.status_code == 400
    assert "Sort by:" in response.content.decode() and "not one of the available choices" in response.content.decode()


def test_featured_listings_lead_the_home_page_only(admin_page, shop):
    _actor, client = admin_page
    star = shop("star-tool")
    shop("plain-tool")
    hidden = shop("hidden-tool", status=ListingStatus.DRAFT)
    Listing.objects.filter(pk__in=[star.pk, hidden.pk]).update(featured=True)

    home = client.get("/").content.decode()
    featured = home.split('id="featured-title"')[1].split("</section>")[0]
    assert "Star Tool" in featured and "Plain Tool" not in featured and "Hidden Tool" not in featured
    assert 'id="featured-title"' not in client.get("/", {"q": "tool"}).content.decode()
    Listing.objects.update(featured=False)
    assert 'id="featured-title"' not in client.get("/").content.decode()


def test_staff_feature_a_listing_in_the_admin(client, shop, django_user_model):
    listing = shop("star-tool")
    staff = django_user_model.objects.create_superuser("staff", "staff@example.test", "pw")
    client.force_login(staff)

    changelist = client.get("/admin/marketplace/listing/")
    assert changelist.status_code == 200 and 'name="form-0-featured"' in changelist.content.decode()
    assert client.get("/admin/marketplace/listing/", {"featured__exact": "1"}).status_code == 200
    listing.featured = True
    listing.save(update_fields=["featured"])
    assert Listing.objects.get(pk=listing.pk).featured


# --------------------------------------------------------------------------- no N+1


def _copies(template: PluginVersion, count: int, start: int = 0) -> None:
    """``count`` more published listings (bulk copies of one uploaded version), each installed
    by one tenant, reviewed, with package media recorded: every figure a card shows."""
    publisher = template.plugin.publisher
    plugins = Plugin.objects.bulk_create(
        Plugin(slug=f"copy-{n}", name=f"Copy {n:03d}", publisher=publisher) for n in range(start, start + count))
    versions = PluginVersion.objects.bulk_create(
        PluginVersion(plugin=p, version="1.0.0", manifest=template.manifest, package=template.package.name,
                      package_format=template.package_format, sha256=template.sha256, size=template.size)
        for p in plugins)
    PackageMedia.objects.bulk_create(PackageMedia(version=v, icon="static/icon.png") for v in versions)
    Listing.objects.bulk_create(Listing(plugin=p, status=ListingStatus.PUBLISHED, featured=True) for p in plugins)
    reviewer = Tenant.objects.get_or_create(slug="reviewer", defaults={"name": "Reviewer"})[0]
    Installation.objects.bulk_create(Installation(tenant=reviewer, plugin=v.plugin, version=v) for v in versions)
    PluginReview.objects.bulk_create(PluginReview(tenant=reviewer, plugin=p, rating=4) for p in plugins)


@pytest.mark.parametrize("sort", ["name", "popular", "rating", "newest"])
def test_browse_query_count_does_not_grow_with_the_page(admin_page, shop, sort):
    actor, client = admin_page
    template = shop("first-tool", extra={"static/icon.png": PNG}).plugin.latest_version

    def queries_for_a_page() -> tuple[int, int]:
        client.get("/", {"sort": sort})  # warm: session, caches
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/", {"sort": sort})
        assert response.status_code == 200
        return len(queries), len(_names(response))

    _copies(template, 4)
    small, shown_small = queries_for_a_page()
    _copies(template, 30, start=4)
    install(actor.tenant, Plugin.objects.get(slug="copy-1"))
    large, shown_large = queries_for_a_page()

    assert (shown_small, shown_large) == (5, views.PAGE_SIZE)
    assert large == small
