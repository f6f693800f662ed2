"""axe-core on every page, in a real headless Chromium: no violation of impact serious or critical.

The pages are the page walk's (``tests/test_page_walk.py``), found in the URLconf, so a page
added there is checked here too: every page an admin of acme opens (the tenant's own objects,
and the 404 page of another tenant's or a missing one), the browse and detail pages as a
member (who sees no admin controls) and the 403 page they get, the staff pages as staff, and
the sign-in and set-password pages signed out. A page that answers with something other than
HTML (an image, a 405 for a POST-only URL) has nothing for axe to read and is passed by.

axe-core comes from the PyPI package ``axe-playwright-python`` (it bundles ``axe.min.js``).
Each violation is printed with its id, impact, the elements it found and axe's help URL.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.browser.test_marketplace_browser import CHROMIUM, page  # noqa: F401
from tests.test_page_walk import Page, Target, World, build_world, walked_pages

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's chromium is not installed at {CHROMIUM}"),
]

BLOCKING = {"serious", "critical"}


@dataclass(frozen=True)
class Visit:
    role: str
    url: str
    what: str


def _url(page_: Page, target: Target) -> str:
    return reverse(page_.pattern.name, kwargs=target.kwargs)


def visits(world: World) -> list[Visit]:
    """Which role opens which page: see the module's docstring."""
    out: list[Visit] = []
    for page_ in walked_pages():
        for target in world.targets(page_):
            what = f"{page_.name} ({target.label})"
            if page_.kind == "tenant":
                if target.owner in (None, "acme") or not target.exists:
                    out.append(Visit("admin", _url(page_, target), what))
                if page_.name in ("marketplace:browse", "marketplace:detail", "marketplace:uninstall") and target.exists:
                    out.append(Visit("member", _url(page_, target), what))
            elif page_.kind == "staff":
                out.append(Visit("staff", _url(page_, target), what))
            else:
                out.append(Visit("anonymous", _url(page_, target), what))
    return out


def _sign_in(browser_page, world: World, role: str, base: str) -> Client:
    """A test client signed in as ``role``, whose session the browser shares."""
    browser_page.context.clear_cookies()
    client = world.client(role)
    if world.users.get(role) is not None:
        browser_page.context.add_cookies([{
            "name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": base,
        }])
    return client


def _html(client: Client, url: str) -> bool:
    """Whether the page answers GET with HTML (Chromium refuses to show an empty 405)."""
    response = client.get(url)
    return response.status_code != 405 and "text/html" in response.get("Content-Type", "")


def _describe(visit: Visit, status: int, violation: dict) -> str:
    nodes = violation.get("nodes", [])
    targets = "; ".join(" ".join(node.get("target", [])) for node in nodes)
    checks = [c for node in nodes[:1] for c in node.get("any", []) + node.get("all", []) if c.get("message")]
    why = f" ({checks[0]['message']})" if checks else ""
    return (f"{visit.role} {visit.url} [{visit.what}, HTTP {status}]: {violation['id']} ({violation['impact']}) "
            f"on {targets}{why} — {violation['help']} {violation['helpUrl']}")


def _blocking(axe, browser_page, visit: Visit, status: int) -> list[str]:
    found = []
    for violation in axe.run(browser_page).response["violations"]:
        line = _describe(visit, status, violation)
        print(line)
        if violation["impact"] in BLOCKING:
            found.append(line)
    return found


def test_axe_runs_and_finds_what_it_should(page):  # noqa: F811
    """The check below can fail: on a page with known faults axe names each."""
    from axe_playwright_python.sync_playwright import Axe

    page.set_content('<html><body><img src="x.png"><button></button><input type="text"></body></html>')
    ids = {v["id"] for v in Axe().run(page).response["violations"]}
    assert {"image-alt", "button-name", "label", "html-has-lang"} <= ids


def test_no_page_has_a_serious_or_critical_accessibility_violation(live_server, transactional_db, make_actor, page):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    world = build_world(make_actor)
    axe, base = Axe(), live_server.url
    found: list[str] = []
    checked = 0
    role, client = None, None
    for visit in sorted(visits(world), key=lambda v: v.role):
        if visit.role != role:
            role = visit.role
            client = _sign_in(page, world, role, base)
        if not _html(client, visit.url):
            continue
        response = page.goto(base + visit.url)
        checked += 1
        found += _blocking(axe, page, visit, response.status)

    # The installation page in the states a form leaves it in: enabling refused (what is
    # missing, as an alert with links), and the settings form answered with field errors.
    _sign_in(page, world, "admin", base)
    url = reverse("marketplace:installation", args=[world.extras["acme_installation"]])
    page.goto(base + url)
    page.get_by_role("button", name="Enable", exact=True).click()
    page.get_by_role("alert").first.wait_for()
    found += _blocking(axe, page, Visit("admin", url, "enabling refused"), 400)
    page.goto(base + url)
    page.locator('[name="setting__api_url"]').fill("not a url")
    page.get_by_role("button", name="Save settings").click()
    page.locator(".errorlist, [aria-invalid=true]").first.wait_for()
    found += _blocking(axe, page, Visit("admin", url, "settings with errors"), 400)
    checked += 2

    print(f"axe checked {checked} pages")
    assert checked >= 20, f"only {checked} pages were HTML; did signing in fail?"
    assert not found, f"{len(found)} serious or critical violations:\n" + "\n".join(found)
