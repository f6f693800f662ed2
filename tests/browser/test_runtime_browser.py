"""The staff runtime page in a real headless Chromium: sign in to the admin, open it from the
index, and see the charts drawn — a bar in the minute that had invocations, empty slots elsewhere.

Set PLUGYARD_SCREENSHOT_DIR to keep the screenshot (runtime) for review.
"""
from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from plugins_core.models import Invocation
from tests.browser.test_marketplace_browser import CHROMIUM, PASSWORD, _screenshot, page  # noqa: F401
from tests.kit import install, plugin_zip
from tests.plugins_core.test_metrics import ROUTE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's chromium is not installed at {CHROMIUM}"),
]


@pytest.fixture
def staff(transactional_db):
    return get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)


def test_staff_open_the_runtime_page_and_see_the_minute_that_had_calls(live_server, staff, owner, page, tmp_path):  # noqa: F811
    installation = install(owner, plugin_zip("busy", ROUTE, routes=True), enable=False)
    finished = timezone.now()
    for status in ("ok", "ok", "ok", "error"):
        row = Invocation.objects.create(tenant=owner.tenant, installation=installation, kind="route", name="ping",
                                        status=status, duration_ms=12)
        Invocation.objects.filter(pk=row.pk).update(finished_at=finished)
    minute = finished.strftime("%H:%M")

    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Runtime").click()
    page.get_by_role("heading", name="The last hour, minute by minute").wait_for()

    charts = page.locator("svg.runtime-chart")
    assert charts.count() == 4 + 2  # the four charts, and the one plugin's two sparklines
    first = charts.first
    assert first.locator("rect.slot").count() == 60
    ok_bar = first.locator(f'rect.bar.ok[data-minute="{minute}"]')
    error_bar = first.locator(f'rect.bar.error[data-minute="{minute}"]')
    assert ok_bar.count() == 1 and error_bar.count() == 1
    ok_box, error_box = ok_bar.bounding_box(), error_bar.bounding_box()
    assert ok_box["height"] == pytest.approx(3 * error_box["height"], rel=0.05)  # 3 ok, 1 error, one scale
    assert first.locator("rect.bar").count() == 2  # every other minute is an empty slot
    assert ok_bar.evaluate("el => getComputedStyle(el).fill") == "rgb(46, 158, 91)"
    assert page.locator('tr[data-plugin="busy"]').get_by_text("25% (1/4)").is_visible()
    _screenshot(page, tmp_path, "runtime")
