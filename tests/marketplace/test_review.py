"""Staff review of listings: the admin list and review page, approve / reject with a reason,
the publisher's view of it in the API, and submitting a version for review."""
from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from marketplace.models import Listing, ListingReview, ListingStatus, ReviewDecision, ReviewStatus
from plugins_core import services
from plugins_core.models import Installation
from tests.conftest import make_zip, upload
from tests.marketplace.conftest import ops_package

pytestmark = pytest.mark.django_db

CODE = 'HTML = "<script>alert(1)</script>"\n'


def package(version: str = "1.0.0", *, permissions=("db.read",), domains=(), **files: bytes) -> bytes:
    """``reviewed`` as a zip: it declares an event nothing handles, so its upload warns."""
    manifest = {"slug": "reviewed", "name": "Reviewed", "version": version, "entry": "main.py",
                "events": ["device.created"], "permissions": list(permissions), "allowed_domains": list(domains)}
    return make_zip({"plugin.json": json.dumps(manifest).encode(), "main.py": CODE.encode(), **files})


@pytest.fixture
def publisher_owner(make_actor):
    """An owner of the publishing tenant: who may submit its plugins for review."""
    return make_actor("plugin-house", "owner")


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("staff", "staff@plugyard.test", "pw")
    client = Client()
    client.force_login(user)
    return client


def uploaded(actor, data: bytes) -> int:
    response = upload(actor, data, "reviewed.zip")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def review_url(listing: Listing) -> str:
    return f"/admin/marketplace/listing/{listing.pk}/review/"


def text(response) -> str:
    return response.content.decode()


# ------------------------------------------------------------------ the admin list


def test_change_list_shows_each_publisher_and_filters_by_status(staff, make_actor, publish):
    given_same_slug = [make_actor("globex", "developer"), make_actor("initech", "developer")]
    publish("my-plugin")  # plugin-house's, published
    for actor in given_same_slug:
        assert upload(actor, ops_package(id="my-plugin", name="My Plugin"), "my-plugin.tar.gz").status_code == 201

    page = text(staff.get("/admin/marketplace/listing/"))
    for publisher in ["Plugin-House (plugin-house)", "Globex (globex)", "Initech (initech)"]:
        assert publisher in page
    assert page.count(">Review</a>") == 3

    published = text(staff.get("/admin/marketplace/listing/?status=published"))
    assert "Plugin-House (plugin-house)" in published and "Globex (globex)" not in published

    listing = Listing.objects.get(plugin__publisher__slug="globex")
    assert f'href="{review_url(listing)}">Review</a>' in text(staff.get(f"/admin/marketplace/listing/{listing.pk}/change/"))


# ------------------------------------------------------------------ the review page


@pytest.fixture
def second_version(publisher_owner, staff):
    """reviewed 1.0.0 approved; 1.1.0 asks for more, reaches a new domain, and is submitted."""
    pk = uploaded(publisher_owner, package("1.0.0", permissions=("db.read", "db.write")))
    listing = Listing.objects.get(plugin__slug="reviewed")
    assert staff.post(review_url(listing), {"decision": "approve"}).status_code == 302
    pk = uploaded(publisher_owner, package(
        "1.1.0", permissions=("db.read", "outbound_http"), domains=("api.example.com",),
        **{"CHANGELOG.md": b"1.1.0: calls the weather API", "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00"},
    ))
    assert publisher_owner.client.post(f"/api/plugins/{pk}/submit").status_code == 200
    return Listing.objects.get(pk=listing.pk), pk


def test_review_page_shows_what_changed_warnings_and_files(staff, second_version):
    listing, _pk = second_version
    page = text(staff.get(review_url(listing)))

    assert "Plugin-House (<code>plugin-house</code>)" in page
    assert re.search(r'id="version">1\.1\.0', page)
    assert "Compared with 1.0.0" in page
    assert '<li class="added">+ outbound_http</li>' in page and '<li>db.read</li>' in page
    assert '<li class="removed">− db.write</li>' in page
    assert '<li class="added">+ api.example.com</li>' in page
    assert "declared but no handler subscribes" in page  # the upload's warning
    assert "1.1.0: calls the weather API" in page  # the changelog
    assert 'href="?file=main.py#code">main.py</a>' in page
    assert "logo.png <em>(binary, not shown)</em>" in page


def test_a_file_is_shown_escaped_and_only_from_the_package(staff, second_version):
    listing, _pk = second_version
    page = text(staff.get(review_url(listing), {"file": "main.py"}))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page

    binary = text(staff.get(review_url(listing), {"file": "logo.png"}))
    assert "A binary file; it is not shown." in binary and "PNG" not in binary.split('id="code"')[1]

    for name in ["../../../etc/passwd", "/etc/passwd", "plugin.json/../main.py"]:
        assert staff.get(review_url(listing), {"file": name}).status_code == 404


def test_the_review_page_is_for_staff_only(client, publisher_owner, django_user_model):
    uploaded(publisher_owner, package())
    listing = Listing.objects.get(plugin__slug="reviewed")
    client.force_login(publisher_owner.membership.user)  # a tenant owner, not staff
    response = client.get(review_url(listing))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")

    viewer = django_user_model.objects.create_user("viewer", "viewer@plugyard.test", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_listing"))
    client.force_login(viewer)
    assert client.get(review_url(listing)).status_code == 200
    assert client.post(review_url(listing), {"decision": "approve"}).status_code == 403
    assert Listing.objects.get(pk=listing.pk).review_status == ReviewStatus.NOT_SUBMITTED


# ------------------------------------------------------------------ decisions


def test_reject_needs_a_reason_and_the_publisher_reads_it(staff, publisher_owner, other_owner):
    pk = uploaded(publisher_owner, package())
    assert publisher_owner.client.post(f"/api/plugins/{pk}/submit").status_code == 200
    listing = Listing.objects.get(plugin__slug="reviewed")

    refused = staff.post(review_url(listing), {"decision": "reject", "reason": "  "})
    assert refused.status_code == 400 and "Say why" in text(refused)
    assert Listing.objects.get(pk=listing.pk).review_status == ReviewStatus.PENDING

    assert staff.post(review_url(listing), {"decision": "reject", "reason": "Asks for db.read it never uses."}).status_code == 302
    listing.refresh_from_db()
    assert (listing.review_status, listing.status) == (ReviewStatus.REJECTED, ListingStatus.DRAFT)
    assert listing.reviewed_by.username == "staff" and listing.reviewed_at is not None
    step = listing.reviews.first()
    assert (step.decision, step.reason, step.by.username) == (ReviewDecision.REJECTED, "Asks for db.read it never uses.", "staff")

    seen = publisher_owner.client.get(f"/api/plugins/{pk}").json()["listing"]
    assert seen["status"] == "rejected" and seen["reason"] == "Asks for db.read it never uses."
    assert seen["version"] == "1.0.0" and seen["reviewed_at"] and seen["published"] is False
    assert other_owner.client.get(f"/api/plugins/{pk}").status_code == 404


def test_approve_publishes_and_the_publisher_sees_it(staff, publisher_owner):
    pk = uploaded(publisher_owner, package())
    assert publisher_owner.client.get(f"/api/plugins/{pk}").json()["listing"]["status"] == "not_submitted"
    publisher_owner.client.post(f"/api/plugins/{pk}/submit")
    listing = Listing.objects.get(plugin__slug="reviewed")

    assert staff.post(review_url(listing), {"decision": "approve", "reason": "Looks good."}).status_code == 302
    listing.refresh_from_db()
    assert (listing.status, listing.approved_version.version) == (ListingStatus.PUBLISHED, "1.0.0")
    seen = publisher_owner.client.get(f"/api/plugins/{pk}").json()["listing"]
    assert (seen["status"], seen["reason"], seen["approved_version"], seen["published"]) == ("approved", "Looks good.", "1.0.0", True)
    assert [s.decision for s in ListingReview.objects.filter(listing=listing)] == ["approved", "submitted"]


def test_approve_refuses_a_second_publisher_of_a_published_slug(staff, publish, make_actor):
    publish("my-plugin")
    assert upload(make_actor("globex", "developer"), ops_package(id="my-plugin"), "my-plugin.tar.gz").status_code == 201
    theirs = Listing.objects.get(plugin__publisher__slug="globex")
    refused = staff.post(review_url(theirs), {"decision": "approve"})
    assert refused.status_code == 400 and "is published already" in text(refused)
    theirs.refresh_from_db()
    assert (theirs.status, theirs.review_status) == (ListingStatus.DRAFT, ReviewStatus.NOT_SUBMITTED)


def test_only_the_publisher_sees_the_listing_in_the_api(staff, publisher_owner, other_owner):
    uploaded(publisher_owner, package())
    listing = Listing.objects.get(plugin__slug="reviewed")
    staff.post(review_url(listing), {"decision": "approve"})
    theirs = services.install_version(other_owner.tenant, other_owner.membership.user, listing.plugin.latest_version)
    assert other_owner.client.get(f"/api/plugins/{theirs.pk}").json()["listing"] is None


# ------------------------------------------------------------------ submitting


def test_submit_puts_the_version_up_for_review_once(staff, publisher_owner):
    pk = uploaded(publisher_owner, package())
    response = publisher_owner.client.post(f"/api/plugins/{pk}/submit")
    assert response.status_code == 200, response.content
    assert response.json()["listing"]["status"] == "pending_review"
    assert Listing.objects.get(plugin__slug="reviewed").status == ListingStatus.IN_REVIEW

    again = publisher_owner.client.post(f"/api/plugins/{pk}/submit")
    assert again.status_code == 400 and again.json()["error"]["code"] == "already_pending"

    staff.post(review_url(Listing.objects.get(plugin__slug="reviewed")), {"decision": "approve"})
    approved = publisher_owner.client.post(f"/api/plugins/{pk}/submit")
    assert approved.status_code == 400 and "approved already" in approved.json()["error"]["message"]


def test_submitting_a_new_version_keeps_the_listing_published(staff, publisher_owner):
    uploaded(publisher_owner, package("1.0.0"))
    staff.post(review_url(Listing.objects.get(plugin__slug="reviewed")), {"decision": "approve"})
    pk = uploaded(publisher_owner, package("1.1.0"))
    assert publisher_owner.client.post(f"/api/plugins/{pk}/submit").json()["listing"]["version"] == "1.1.0"
    listing = Listing.objects.get(plugin__slug="reviewed")
    assert (listing.status, listing.review_status) == (ListingStatus.PUBLISHED, ReviewStatus.PENDING)


def test_submit_is_for_the_publishers_admins(publisher_owner, make_actor, other_owner):
    pk = uploaded(publisher_owner, package())
    member = make_actor("plugin-house", "member")
    assert member.client.post(f"/api/plugins/{pk}/submit").status_code == 403
    assert other_owner.client.post(f"/api/plugins/{pk}/submit").status_code == 404
    assert Listing.objects.get(plugin__slug="reviewed").review_status == ReviewStatus.NOT_SUBMITTED


def test_a_tenant_cannot_submit_a_plugin_it_only_installed(publisher_owner, other_owner):
    uploaded(publisher_owner, package())
    version = Installation.objects.get(tenant=publisher_owner.tenant).version
    theirs = services.install_version(other_owner.tenant, other_owner.membership.user, version)
    refused = other_owner.client.post(f"/api/plugins/{theirs.pk}/submit")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_publisher"


# ------------------------------------------------------------------ the CLI, against a live server


@pytest.mark.django_db(transaction=True)
def test_cli_publish_submit_against_the_server(live_server, publisher_owner, tmp_path, monkeypatch, capsys):
    from plugyard_sdk.cli import main

    archive = tmp_path / "reviewed.zip"
    archive.write_bytes(package())
    monkeypatch.setenv("OPS_CENTER_API_URL", live_server.url)
    monkeypatch.setenv("OPS_CENTER_API_KEY", publisher_owner.token)
    monkeypatch.setenv("PLUGYARD_TENANT", "plugin-house")

    assert main(["publish", "--file", str(archive), "--submit"]) == 0
    assert "Submitted for review: listing pending_review (version 1.0.0)" in capsys.readouterr().out
    assert Listing.objects.get(plugin__slug="reviewed").review_status == ReviewStatus.PENDING

    assert main(["publish", "--file", str(archive), "--submit"]) == 1  # the same version again
    err = capsys.readouterr().err
    assert "HTTP 409" in err and "was uploaded already" in err and "{" not in err
