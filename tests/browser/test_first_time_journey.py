"""Issue 10's "done when", recorded in a real headless Chromium.

A second publisher uploads the SBH guide's example plugin with its Webhooks-as-Code file
and submits it for review. A staff member reads its permissions and code on the review
page and approves it. Then a tenant admin who never saw the product finds it in the
marketplace, installs it through the consent page, fills in the secrets its webhook needs
(refused first, with links to what is missing), enables it, sees its first invocation on
the plugin's page and uninstalls it.

The run is recorded as a Playwright trace (every action with a screenshot and a DOM
snapshot: ``playwright show-trace journey-trace.zip``) plus a screenshot at each step, in
the test's tmp_path; set PLUGYARD_SCREENSHOT_DIR to keep copies.
"""
from __future__ import annotations

import json
import os
import urllib.request

import pytest

from marketplace.models import Listing, ListingStatus, ReviewStatus
from plugins_core.models import Installation, Secret
from plugins_core.secrets import read_secret
from tenants.models import Tenant
from tests.browser.test_marketplace_browser import CHROMIUM, PASSWORD, _keep, _screenshot, page  # noqa: F401
from tests.conftest import make_zip, plugin_files, upload
from tests.webhooks.conftest import guide_files

SIGNING_KEY = "whsec_am91cm5leS1zaWduaW5nLWtleS1uZXZlci1zaG93bg=="
WEBHOOK_URL = "https://hooks.journey.example/sbh/never-shown-7q2"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's chromium is not installed at {CHROMIUM}"),
]


def sbh_plugin_with_webhook() -> bytes:
    """The SBH guide's plugin.json and main.py, with the guide's webhooks/notifications.yaml
    and its transform; the manifest asks for ``emit_webhook``, as a webhook file needs."""
    files = dict(plugin_files("sbh-my-plugin"))
    manifest = json.loads(files["plugin.json"])
    manifest["permissions"] = [*manifest["permissions"], "emit_webhook"]
    files["plugin.json"] = json.dumps(manifest, indent=2).encode()
    webhook = guide_files()
    files["webhooks/notifications.yaml"] = webhook["webhooks/notifications.yaml"]
    files["transforms/build_completed.py"] = webhook["transforms/build_completed.py"]
    return make_zip(files)


@pytest.fixture
def people(transactional_db, make_actor, django_user_model):
    """A second publisher's submitted listing, a staff member, and a new tenant's admin."""
    make_actor("first-house", "developer")  # the first publisher: the SBH one is the second
    publisher = make_actor("sbh-house", "owner")
    Tenant.objects.filter(pk=publisher.tenant.pk).update(name="SBH House")
    response = upload(publisher, sbh_plugin_with_webhook(), "my-plugin.zip")
    assert response.status_code == 201, response.content
    listing = Listing.objects.get(plugin__publisher=publisher.tenant, plugin__slug="my-plugin")
    installation = Installation.objects.for_tenant(publisher.tenant).get(plugin=listing.plugin)
    submitted = publisher.client.post(f"/api/plugins/{installation.pk}/submit")
    assert submitted.status_code == 200, submitted.content
    django_user_model.objects.create_superuser("curator", "curator@plugyard.test", PASSWORD)
    admin = make_actor("acme", "admin")
    Tenant.objects.filter(pk=admin.tenant.pk).update(name="Acme Corp")
    user = admin.membership.user
    user.set_password(PASSWORD)
    user.save()
    return listing, admin


def _sign_in(page, base: str, login_path: str, button: str, username: str, next_path: str) -> None:  # noqa: F811
    page.goto(f"{base}{login_path}?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    page.wait_for_url(f"{base}{next_path}")


def _ping(base: str, admin) -> dict:
    request = urllib.request.Request(f"{base}/ext/my-plugin/ping", headers={
        "Authorization": f"Bearer {admin.token}", "X-Tenant-Slug": admin.tenant.slug})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_staff_approve_a_second_publishers_listing_and_a_new_admin_runs_it(live_server, people, page, tmp_path):  # noqa: F811
    listing, admin = people
    base = live_server.url
    context = page.context
    context.tracing.start(screenshots=True, snapshots=True, sources=False)
    seen: list[str] = []
    try:
        # ---- staff: the review page shows who published it, what it asks for and its code
        review = f"/admin/marketplace/listing/{listing.pk}/review/"
        _sign_in(page, base, "/admin/login/", "Log in", "curator", review)
        assert "SBH House" in page.locator("#publisher").inner_text()
        permissions = page.locator("#permissions").inner_text()
        assert "emit_webhook" in permissions and "outbound_http" in permissions
        page.locator("#files").get_by_role("link", name="main.py").click()
        page.locator("#code").wait_for()
        assert "def ping_route" in page.locator("#code + pre").inner_text()
        page.locator("#files").get_by_role("link", name="webhooks/notifications.yaml").click()
        assert "${SECRET:WEBHOOK_SIGNING_KEY}" in page.locator("#code + pre").inner_text()
        _screenshot(page, tmp_path, "journey-1-review")
        page.locator("#reason").fill("Read main.py and the webhook file: it asks for what it uses.")
        page.get_by_role("button", name="Approve and publish").click()
        page.wait_for_load_state()
        listing.refresh_from_db()
        assert (listing.status, listing.review_status) == (ListingStatus.PUBLISHED, ReviewStatus.APPROVED)
        context.clear_cookies()

        # ---- a new tenant admin: find it, install with consent
        _sign_in(page, base, "/accounts/login/", "Sign in", admin.membership.user.username, "/")
        page.get_by_role("searchbox").fill("My Plugin")
        page.get_by_role("searchbox").press("Enter")
        page.get_by_role("link", name="My Plugin").first.click()
        page.wait_for_url(f"{base}/plugins/my-plugin/")
        _screenshot(page, tmp_path, "journey-2-detail")
        page.get_by_role("link", name="Install for Acme Corp").click()
        page.wait_for_url(f"{base}/plugins/my-plugin/install/")
        consent = page.locator("#consent-permissions").inner_text()
        assert "emit_webhook" in consent or "webhook" in consent.lower()
        _screenshot(page, tmp_path, "journey-3-consent")
        page.get_by_role("button", name="Install for Acme Corp").click()
        installation = Installation.objects.for_tenant(admin.tenant).get(plugin=listing.plugin)
        page.wait_for_url(f"{base}/installed/{installation.pk}/")

        # ---- enable is refused until the webhook's secrets are set
        page.get_by_role("button", name="Enable", exact=True).click()
        refused = page.get_by_role("alert").filter(has_text="was not enabled")
        refused.wait_for()
        assert refused.get_by_role("link", name="secrets.WEBHOOK_URL").is_visible()
        assert refused.get_by_role("link", name="secrets.WEBHOOK_SIGNING_KEY").is_visible()
        _screenshot(page, tmp_path, "journey-4-refused")
        page.get_by_label("WEBHOOK_URL").fill(WEBHOOK_URL)
        page.get_by_label("WEBHOOK_SIGNING_KEY").fill(SIGNING_KEY)
        page.get_by_role("button", name="Save secrets").click()
        page.get_by_text("for My Plugin. The values cannot be shown again.").wait_for()
        assert read_secret(installation, "WEBHOOK_SIGNING_KEY") == SIGNING_KEY
        seen.append(page.content())

        # ---- enable, call its route: the first invocation is on its page
        page.get_by_role("button", name="Enable", exact=True).click()
        page.get_by_text("Enabled My Plugin").wait_for()
        assert _ping(base, admin) == {"status": "ok", "plugin": "my-plugin", "tenant": admin.tenant.slug}
        page.reload()
        row = page.locator(".activity-row").first
        assert "ping_route" in row.inner_text() and row.locator(".badge").inner_text() == "ok"
        seen.append(page.content())
        _screenshot(page, tmp_path, "journey-5-first-invocation")

        # ---- uninstall, after being told what goes
        page.get_by_role("link", name="Uninstall…").click()
        page.get_by_role("heading", name="Uninstall My Plugin?").wait_for()
        assert page.locator("#deleted").get_by_text("its secrets (2 set)").is_visible()
        seen.append(page.content())
        _screenshot(page, tmp_path, "journey-6-uninstall")
        page.get_by_role("button", name="Uninstall My Plugin").click()
        page.wait_for_url(f"{base}/installed/")
        page.get_by_text("Uninstalled My Plugin.").wait_for()
    finally:
        trace = tmp_path / "journey-trace.zip"
        context.tracing.stop(path=str(trace))
        _keep(trace)
    assert trace.stat().st_size > 10_000
    assert not Installation.objects.filter(pk=installation.pk).exists()
    assert not Secret.objects.filter(installation_id=installation.pk).exists()
    assert all(SIGNING_KEY not in html and WEBHOOK_URL not in html for html in seen)
