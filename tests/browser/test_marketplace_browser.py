"""The marketplace in a real headless Chromium: sign in, browse, search, install, enable.

Set PLUGYARD_SCREENSHOT_DIR to keep the screenshots (browse, detail, installed) for review.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

from marketplace.models import Listing, ListingStatus
from plugins_core.models import Installation
from tenants.models import Membership, Role, Tenant
from tests.conftest import upload
from tests.marketplace.conftest import ops_package

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a long enough test password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's chromium is not installed at {CHROMIUM}"),
]


@pytest.fixture
def page(monkeypatch):
    """A Chromium page. Playwright's sync API runs an event loop in this thread, so Django's
    async-safety check must be off while the test talks to the database around it."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            # Queries made while Playwright's loop is running open their own connection
            # (Django keys connections by context); close it here, or the test database
            # cannot be dropped on PostgreSQL.
            connections.close_all()
            context.close()
            browser.close()


@pytest.fixture
def marketplace(transactional_db, make_actor):
    """Three published plugins from a publisher, one draft, and an admin of acme with a password."""
    publisher = make_actor("plugin-house", "developer")
    plugins = [
        ("device-watch", "Device Watch", "Watches devices and raises alerts for anomalies", "monitoring", {"model": "free", "price": 0}),
        ("invoice-sync", "Invoice Sync", "Copies paid invoices into your accounting system", "integration", {"model": "one-time", "price": 9}),
        ("smart-summary", "Smart Summary", "Summarises long support tickets with an LLM", "ai", {"model": "subscription", "price": 5}),
        ("hidden-draft", "Hidden Draft", "Not ready yet", "monitoring", {"model": "free", "price": 0}),
    ]
    for slug, name, description, category, pricing in plugins:
        data = ops_package(id=slug, name=name, description=description, category=category, pricing=pricing)
        assert upload(publisher, data, f"{slug}.tar.gz").status_code == 201
    Listing.objects.exclude(plugin__slug="hidden-draft").update(status=ListingStatus.PUBLISHED)

    admin = make_actor("acme", "admin")
    Tenant.objects.filter(pk=admin.tenant.pk).update(name="Acme Corp")
    user = admin.membership.user
    user.set_password(PASSWORD)
    user.save()
    return admin


def _keep(path: Path) -> None:
    target = os.environ.get("PLUGYARD_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    _keep(path)
    return path


def test_an_admin_finds_installs_and_enables_a_plugin(live_server, marketplace, page, tmp_path):
    admin = marketplace
    base = live_server.url

    # Signing in: the marketplace sends a visitor to the login page and back.
    page.goto(f"{base}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(admin.membership.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")

    # Browsing: published plugins only, with prices; the stylesheet is served and applied.
    page.get_by_role("heading", name="Plugin marketplace").wait_for()
    titles = page.locator(".card-title").all_inner_texts()
    assert titles == ["Device Watch", "Invoice Sync", "Smart Summary"]
    assert page.get_by_text("$9.00 one-time").is_visible()
    assert page.get_by_text("$5.00 / month").is_visible()
    brand_colour = page.locator(".brand-mark").evaluate("el => getComputedStyle(el).backgroundColor")
    assert brand_colour == "rgb(67, 56, 202)"
    _screenshot(page, tmp_path, "browse")

    # Searching and filtering.
    page.get_by_label("Search").fill("invoices")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/?q=invoices*")
    assert page.locator(".card-title").all_inner_texts() == ["Invoice Sync"]
    page.get_by_label("Search").fill("")
    page.get_by_label("Pricing").select_option("subscription")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**pricing=subscription*")
    assert page.locator(".card-title").all_inner_texts() == ["Smart Summary"]
    page.get_by_role("link", name="Clear").click()

    # The detail page explains what the plugin asks for.
    page.get_by_role("link", name="Invoice Sync").click()
    page.wait_for_url(f"{base}/plugins/invoice-sync/")
    assert page.get_by_role("heading", level=1).inner_text() == "Invoice Sync"
    assert page.get_by_text("Create, acknowledge and resolve alerts.").is_visible()
    assert page.get_by_text("/ext/invoice-sync/status").is_visible()
    _screenshot(page, tmp_path, "detail")

    # Install asks for consent first: what it may do and cost, then an explicit confirm.
    page.get_by_role("link", name="Install for Acme Corp").click()
    page.wait_for_url(f"{base}/plugins/invoice-sync/install/")
    assert page.get_by_role("heading", level=1).inner_text() == "Install Invoice Sync 1.0.0?"
    assert "$9.00 one-time" in page.locator("#consent-price").inner_text()
    _screenshot(page, tmp_path, "consent")
    page.get_by_role("button", name="Install for Acme Corp").click()

    # Confirming lands on its page, switched off; the Installed page lists it.
    page.wait_for_url(f"{base}/installed/*/")
    assert page.get_by_text("Installed Invoice Sync 1.0.0").is_visible()
    page.goto(f"{base}/installed/")
    row = page.locator(".install-row", has_text="Invoice Sync")
    assert row.locator(".badge").inner_text() == "Disabled"
    installation = Installation.objects.for_tenant(admin.tenant).get(plugin__slug="invoice-sync")
    assert installation.enabled is False

    # Enabling it.
    row.get_by_role("button", name="Enable Invoice Sync").click()
    page.get_by_text("Enabled Invoice Sync").wait_for()
    assert page.locator(".install-row", has_text="Invoice Sync").locator(".badge").inner_text() == "Enabled"
    installation.refresh_from_db()
    assert installation.enabled is True
    assert "devices.read" in installation.granted_permissions
    _screenshot(page, tmp_path, "installed")

    # Back in the marketplace, the card says it is installed.
    page.get_by_role("link", name="Marketplace").click()
    card = page.locator(".card", has_text="Invoice Sync")
    assert "Installed" in card.locator(".badge").inner_text()


def test_a_member_is_told_to_ask_an_admin(live_server, marketplace, page):
    member_user = marketplace.membership.user
    Membership.objects.filter(pk=marketplace.membership.pk).update(role=Role.MEMBER)

    page.goto(f"{live_server.url}/accounts/login/?next=/plugins/device-watch/")
    page.get_by_label("Username").fill(member_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/plugins/device-watch/")
    assert page.get_by_text("Ask an admin to install it.").is_visible()
    assert page.get_by_role("link", name="Install for Acme Corp").count() == 0
