"""Every page, as every role, with bad input: never a 500, and every refusal a page that says why.

The pages are found in the URLconf, not listed by hand: a page someone adds is walked the next
time this runs. What a URL argument names (an installation, a member, a listing) is told once
per route prefix in ``ARGUMENTS``; a pattern that is neither walked nor in ``SKIPPED`` with a
reason, or that has an argument the walk cannot fill, fails ``test_every_url_pattern_is_walked_or_skipped``.

Each role (anonymous, member, admin, owner, an admin of another tenant, staff) GETs every page
(plain and with a garbage query) and POSTs to it with nothing, with garbage fields and with
stale / other-tenant ids, against each target: an object of the acting tenant, one of another
tenant, a published and a draft listing, a number or slug that does not exist. The rules:

- no answer is a 5xx (the client runs with ``raise_request_exception=False``, as production
  shows a 500 page rather than raising);
- anonymous is sent to the sign-in page (staff pages: the admin's sign-in, or 401/403);
- another tenant's object, a draft listing and a missing one are 404;
- a member POSTing an admin action gets 403 with a page that names who can;
- a refused request (4xx, or a redirect to sign in) stored nothing: the row count of every
  table and the rows people change (installations, secrets, members, listings, users) are
  the same before and after.

Each request runs in a savepoint rolled back after it, so a POST that does succeed (an admin
uninstalling with an empty form is allowed) leaves the next request the same world.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.auth.tokens import default_token_generator
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from marketplace.models import Listing, ListingStatus
from plugins_core import services
from tenants.models import Membership
from tenants.models import Role as MemberRole
from tests.conftest import upload
from tests.marketplace.conftest import ops_package, weather_zip

# --------------------------------------------------------------------------- the pages

#: Our own code; an admin URL whose view lives elsewhere is Django's (or a library's) admin.
OUR_PACKAGES = ("config", "tenants", "plugins_core", "marketplace", "devices")

#: URL prefixes that are not pages, each with why the walk leaves it out.
SKIPPED_PREFIXES = {
    "api/": "the REST API answers JSON, not pages; tests/plugins_core and tests/tenants cover it "
            "(the cross-tenant matrix walks every API route)",
    "ext/": "plugin routes answer for the plugin, behind API tokens; tests/plugins_core/test_routes*",
}

#: Single URLs that are not pages, by name, with why.
SKIPPED_NAMES = {
    "healthz": "a probe for load balancers, JSON (tests/test_health_and_docs.py)",
    "readyz": "a probe that is 503 by design while a service is down (tests/faults)",
    "metrics": "Prometheus text behind its own token (tests/plugins_core/test_metrics.py)",
}

#: Pages anyone may open, signed in or not.
PUBLIC = {
    "marketplace:login": "the sign-in page",
    "marketplace:logout": "signing out",
    "tenants:set-password": "reached from a one-time link, before the person can sign in",
}

#: Tenant pages a member may POST to; every other tenant POST is an admin action (403 to a member).
MEMBER_MAY_POST = {
    "marketplace:switch-tenant": "picks which of the person's own tenants they act for",
}

#: What each URL argument names, by the route's prefix (the longest that matches) and the
#: argument's name. A page under one of these prefixes is walked with nothing added here.
ARGUMENTS = {
    ("installed/", "pk"): "installation",
    ("installed/<int:pk>/secrets/<str:name>/", "pk"): "installation-secret",
    ("installed/<int:pk>/secrets/<str:name>/", "name"): "installation-secret",
    ("members/", "pk"): "membership",
    ("plugins/", "slug"): "listing-slug",
    ("plugins/<slug:slug>/media/", "slug"): "plugin-media",
    ("plugins/<slug:slug>/media/", "version"): "plugin-media",
    ("plugins/<slug:slug>/media/", "name"): "plugin-media",
    ("admin/marketplace/listing/", "object_id"): "listing-pk",
    ("accounts/set-password/", "uidb64"): "set-password",
    ("accounts/set-password/", "token"): "set-password",
}


@dataclass(frozen=True)
class Pattern:
    """One URL pattern of the URLconf, flattened: its full route, name and view."""

    route: str
    name: str
    module: str
    view: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    """A pattern the walk visits: how people reach it, and what its arguments name."""

    pattern: Pattern
    kind: str  # "tenant" (signed in, acts for a tenant), "staff" (admin_view) or "public"
    target_kind: str | None  # the ARGUMENTS kind its arguments name, None without arguments

    @property
    def name(self) -> str:
        return self.pattern.name or self.pattern.route


def _view_of(callback: Any) -> Any:
    while hasattr(callback, "__wrapped__"):
        callback = callback.__wrapped__
    return getattr(callback, "view_class", callback)


def url_patterns(patterns: list | None = None, prefix: str = "", namespace: str = "") -> Iterator[Pattern]:
    """Every pattern of the URLconf with its full route and namespaced name."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace or "") if n)
            yield from url_patterns(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            view = _view_of(entry.callback)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
            yield Pattern(prefix + str(entry.pattern), name, getattr(view, "__module__", "") or "",
                          getattr(view, "__qualname__", "") or "", tuple(entry.pattern.converters))


def _ours(pattern: Pattern) -> bool:
    return pattern.module.split(".")[0] in OUR_PACKAGES


def skip_reason(pattern: Pattern) -> str | None:
    """Why the walk leaves a pattern out, or None when it must be walked."""
    for prefix, reason in SKIPPED_PREFIXES.items():
        if pattern.route.startswith(prefix):
            return reason
    if pattern.name in SKIPPED_NAMES:
        return SKIPPED_NAMES[pattern.name]
    if pattern.route.startswith("admin/") and not _ours(pattern):
        return "Django's (or django-celery-beat's) own admin views; Plugyard's staff pages are walked"
    return None


def _argument_kind(pattern: Pattern, arg: str) -> str | None:
    matches = [(prefix, kind) for (prefix, name), kind in ARGUMENTS.items()
               if name == arg and pattern.route.startswith(prefix)]
    return max(matches, key=lambda m: len(m[0]))[1] if matches else None


def classify(pattern: Pattern) -> Page:
    """The Page for a pattern the walk visits; ValueError naming what the walk is not told."""
    kinds = {_argument_kind(pattern, arg) for arg in pattern.args}
    if None in kinds:
        unknown = [a for a in pattern.args if _argument_kind(pattern, a) is None]
        raise ValueError(f"{pattern.route} ({pattern.name}): the walk cannot fill {unknown}; "
                         "say what they name in ARGUMENTS")
    if len(kinds) > 1:
        raise ValueError(f"{pattern.route} ({pattern.name}): arguments name {sorted(kinds)}; "
                         "teach World.targets to combine them")
    if pattern.route.startswith("admin/"):
        kind = "staff"
    elif pattern.name in PUBLIC:
        kind = "public"
    else:
        kind = "tenant"
    return Page(pattern, kind, next(iter(kinds)) if kinds else None)


def walked_pages() -> list[Page]:
    """Every page the walk visits (the browser's accessibility check visits the same)."""
    return [classify(p) for p in url_patterns() if skip_reason(p) is None]


# --------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class Target:
    """What a page's arguments are filled with: ``owner`` is the tenant slug the object
    belongs to (None: it belongs to no tenant); ``exists`` is False for a draft or missing one."""

    label: str
    kwargs: dict[str, Any]
    owner: str | None = None
    exists: bool = True


@dataclass(frozen=True)
class Role:
    name: str
    client: Client
    tenant: str | None = None  # the tenant the role acts for; None: anonymous or staff
    is_member_only: bool = False
    is_staff: bool = False


@dataclass
class World:
    """acme's installation and members, globex's, three listings, a staff user."""

    targets_by_kind: dict[str, list[Target]]
    users: dict[str, Any]
    stale_version: int
    other_installation: int
    other_membership: int
    extras: dict[str, Any] = field(default_factory=dict)

    def targets(self, page: Page) -> list[Target]:
        if page.target_kind is None:
            return [Target("none", {})]
        return [Target(t.label, {k: v for k, v in t.kwargs.items() if k in page.pattern.args}, t.owner, t.exists)
                for t in self.targets_by_kind[page.target_kind]]

    def client(self, role: str, **options: Any) -> Client:
        client = Client(raise_request_exception=False, **options)
        if self.users.get(role) is not None:
            client.force_login(self.users[role])
        return client


MISSING = 987654


def build_world(make_actor) -> World:
    """The objects every page's arguments are filled from, made through the real upload path."""
    publisher = make_actor("plugin-house", "developer")
    for filename, data in [
        ("weather-feed.zip", weather_zip()),
        ("device-watch.tar.gz", ops_package(id="device-watch", name="Device Watch")),
        ("hidden-draft.tar.gz", ops_package(id="hidden-draft", name="Hidden Draft")),
    ]:
        assert upload(publisher, data, filename).status_code == 201, filename
    Listing.objects.exclude(plugin__slug="hidden-draft").update(status=ListingStatus.PUBLISHED)
    weather = Listing.objects.select_related("plugin").get(plugin__slug="weather-feed")
    draft = Listing.objects.select_related("plugin").get(plugin__slug="hidden-draft")

    owner = make_actor("acme", "owner")
    admin = make_actor("acme", "admin")
    member = make_actor("acme", "member")
    other_admin = make_actor("globex", "admin")
    other_member = make_actor("globex", "member")
    version = weather.plugin.latest_version
    mine = services.install_version(owner.tenant, owner.membership.user, version)
    theirs = services.install_version(other_admin.tenant, other_admin.membership.user, version)

    # An invited acme member who has not chosen a password: the members page's target, and
    # the set-password link's user.
    User = get_user_model()
    pending = User.objects.create_user("invited@acme.test", email="invited@acme.test")
    pending.set_unusable_password()
    pending.save()
    invited = Membership.objects.create(user=pending, tenant=owner.tenant, role=MemberRole.MEMBER)

    staff = User.objects.create_user("ops", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["marketplace", "plugins_core"]))

    uid = urlsafe_base64_encode(force_bytes(pending.pk))
    targets = {
        "installation": [
            Target("acme's installation", {"pk": mine.pk}, owner="acme"),
            Target("globex's installation", {"pk": theirs.pk}, owner="globex"),
            Target("no such installation", {"pk": MISSING}, exists=False),
        ],
        "installation-secret": [
            Target("a secret of acme's installation", {"pk": mine.pk, "name": "API_TOKEN"}, owner="acme"),
            Target("a secret the plugin does not use", {"pk": mine.pk, "name": "NOT_ONE_OF_ITS"}, owner="acme"),
            Target("a secret of globex's installation", {"pk": theirs.pk, "name": "API_TOKEN"}, owner="globex"),
            Target("no such installation", {"pk": MISSING, "name": "API_TOKEN"}, exists=False),
        ],
        "membership": [
            Target("acme's invited member", {"pk": invited.pk}, owner="acme"),
            Target("globex's member", {"pk": other_member.membership.pk}, owner="globex"),
            Target("no such member", {"pk": MISSING}, exists=False),
        ],
        "listing-slug": [
            Target("a published listing", {"slug": "weather-feed"}),
            Target("an uninstalled published listing", {"slug": "device-watch"}),
            Target("a draft listing", {"slug": draft.plugin.slug}, exists=False),
            Target("no such listing", {"slug": "no-such-plugin"}, exists=False),
        ],
        "plugin-media": [
            Target("an image the version does not have", {"slug": "weather-feed", "version": version.pk,
                                                          "name": "static/icon.png"}, exists=False),
            Target("a path out of the package", {"slug": "weather-feed", "version": version.pk,
                                                 "name": "../../../etc/passwd"}, exists=False),
            Target("another plugin's version", {"slug": "weather-feed", "version": draft.plugin.latest_version.pk,
                                                "name": "plugin.yaml"}, exists=False),
            Target("a draft listing's file", {"slug": draft.plugin.slug, "version": draft.plugin.latest_version.pk,
                                              "name": "plugin.yaml"}, exists=False),
        ],
        "listing-pk": [
            Target("weather-feed's listing", {"object_id": weather.pk}),
            Target("no such listing", {"object_id": MISSING}, exists=False),
        ],
        "set-password": [
            Target("a valid link", {"uidb64": uid, "token": default_token_generator.make_token(pending)}),
            Target("a mangled token", {"uidb64": uid, "token": "bad-token"}),
            Target("the session step without a session", {"uidb64": uid, "token": "set-password"}),
            Target("an unknown user", {"uidb64": "zzzz", "token": "bad-token"}),
        ],
    }
    users = {
        "anonymous": None,
        "member": member.membership.user,
        "admin": admin.membership.user,
        "owner": owner.membership.user,
        "other-admin": other_admin.membership.user,
        "staff": staff,
    }
    return World(targets, users, stale_version=draft.plugin.latest_version.pk,
                 other_installation=theirs.pk, other_membership=other_member.membership.pk,
                 extras={"acme_installation": mine.pk, "invited": invited.pk})


ROLES = {
    "anonymous": {},
    "member": {"tenant": "acme", "is_member_only": True},
    "admin": {"tenant": "acme"},
    "owner": {"tenant": "acme"},
    "other-admin": {"tenant": "globex"},
    "staff": {"is_staff": True},
}


# --------------------------------------------------------------------------- bad input

GARBAGE_QUERY = {
    "page": "-1", "q": "\x00<script>alert(1)</script>" + "x" * 600, "category": "../../etc",
    "pricing": "free'; DROP TABLE x;--", "status": "bogus", "kind": "nope", "file": "../../etc/passwd",
    "next": "//evil.example/", "sort": "🙃",
}


def garbage_fields(world: World) -> dict[str, Any]:
    """Every field name a page's form has, filled with what no form accepts."""
    junk = "\x00" + "ž" * 3000
    return {
        "version": "not-a-number", "tenant": "<b>nobody</b>", "next": "https://evil.example/",
        "role": "emperor", "email": "not-an-email", "decision": "maybe", "reason": junk,
        "username": junk, "password": "", "new_password1": "a", "new_password2": "b",
        "setting__api_url": junk, "setting__units": "{not json", "setting__refresh_minutes": "1e999",
        "setting__threshold": "NaN", "setting__alerts": "maybe", "setting__cities": "\x00",
        "secret__API_TOKEN": junk, "secret__REGION_KEY": "", "confirm": "nope", "rating": "11",
        "body": junk, "csrfmiddlewaretoken": "forged",
    }


def stale_fields(world: World) -> dict[str, Any]:
    """Ids that are real but not the form's: another plugin's version, another tenant's rows."""
    return {
        "version": world.stale_version, "tenant": "globex", "installation": world.other_installation,
        "pk": world.other_installation, "id": world.other_installation, "membership": world.other_membership,
        "role": "owner", "next": "page",
    }


# --------------------------------------------------------------------------- what is stored

#: Rows whose content (not just their number) a refused POST must leave alone.
WATCHED = {
    "plugins_core.Installation": ("pk", "enabled", "config", "version_id", "granted_permissions"),
    "plugins_core.Secret": None,
    "tenants.Membership": ("pk", "role", "tenant_id", "user_id"),
    "marketplace.Listing": None,
    "auth.User": ("pk", "password", "is_active", "email"),
}


def stored() -> dict[str, Any]:
    """Every table's row count (one query) and the watched rows' content."""
    models = [m for m in apps.get_models() if m._meta.label != "sessions.Session" and m._meta.managed]
    counts = " , ".join(f'(SELECT COUNT(*) FROM "{m._meta.db_table}")' for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    state: dict[str, Any] = {m._meta.label: n for m, n in zip(models, row, strict=True)}
    for label, fields in WATCHED.items():
        manager = apps.get_model(label)._base_manager.order_by("pk")
        state[f"{label} rows"] = list(manager.values_list(*fields) if fields else manager.values_list())
    return state


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [key for key in before if before[key] != after.get(key)]


# --------------------------------------------------------------------------- the walk


@dataclass(frozen=True)
class Request:
    page: Page
    target: Target
    method: str
    variant: str
    url: str

    def __str__(self) -> str:
        return f"{self.method} {self.url} [{self.page.name}; {self.target.label}; {self.variant}]"


def requests_for(page: Page, world: World) -> Iterator[tuple[Request, dict[str, Any]]]:
    for target in world.targets(page):
        url = reverse(page.pattern.name, kwargs=target.kwargs) if page.pattern.name else "/" + page.pattern.route
        yield Request(page, target, "GET", "plain", url), {}
        yield Request(page, target, "GET", "garbage query", url), GARBAGE_QUERY
        yield Request(page, target, "POST", "nothing", url), {}
        yield Request(page, target, "POST", "garbage fields", url), garbage_fields(world)
        yield Request(page, target, "POST", "stale ids", url), stale_fields(world)


def _to_login(response, login: str) -> bool:
    return response.status_code == 302 and response["Location"].startswith(login)


def problems_of(request: Request, role: Role, response, before: dict, after: dict) -> list[str]:
    """What is wrong with one answer, in words (empty when nothing is)."""
    page, target, status = request.page, request.target, response.status_code
    out: list[str] = []
    if status >= 500:
        return [f"{status}"]
    body = response.content.decode("utf-8", "replace") if not getattr(response, "streaming", False) else ""
    refused = status >= 400
    if status == 405:
        pass  # the wrong method is refused before anything else is asked (stored nothing: below)
    elif page.kind == "staff" and not role.is_staff:
        if not (_to_login(response, "/admin/login/") or status in (401, 403)):
            out.append(f"{status}, not the admin's sign-in or 401/403, for someone who is not staff")
        refused = True
    elif page.kind == "tenant" and role.name == "anonymous":
        if not _to_login(response, reverse("marketplace:login")):
            out.append(f"{status} {response.get('Location', '')}, not a redirect to sign in")
        refused = True
    elif page.kind == "tenant" and role.is_staff:
        if status not in (400, 403):  # staff in no tenant are told so (400: no tenant to switch to)
            out.append(f"{status}, not 403, for staff in no tenant")
    elif page.kind != "public" and (not target.exists or target.owner not in (None, role.tenant)):
        if status != 404:
            out.append(f"{status}, not 404, for {target.label}")
    elif page.kind == "tenant" and request.method == "POST" and role.is_member_only and page.name not in MEMBER_MAY_POST:
        if status != 403:
            out.append(f"{status}, not 403, for a member's POST to an admin action")
        elif not ("admin" in body.lower() and "owner" in body.lower()):
            out.append("403 without saying who can (admins and owners)")
    elif request.method == "GET" and request.variant == "plain" and page.kind in ("tenant", "staff"):
        allowed = {200} | ({403} if role.is_member_only else set())
        if status not in allowed:
            out.append(f"{status} for a GET that should show the page")
        if status == 403 and not ("admin" in body.lower() and "owner" in body.lower()):
            out.append("403 without saying who can (admins and owners)")
    if refused and request.method == "POST" and (diff := changed(before, after)):
        out.append(f"refused ({status}) yet stored: {', '.join(diff)}")
    return out


def walk(world: World, role_name: str) -> tuple[int, list[str]]:
    """Every request of every page as one role; the number sent and each problem found."""
    role = Role(role_name, world.client(role_name), **ROLES[role_name])
    problems: list[str] = []
    sent = 0
    for page in walked_pages():
        for request, data in requests_for(page, world):
            cookies = role.client.cookies
            role.client.cookies = type(cookies)(cookies)  # a request that signs out must not stick
            with transaction.atomic():
                before = stored() if request.method == "POST" else {}
                if request.method == "GET":
                    response = role.client.get(request.url, data)
                else:
                    response = role.client.post(request.url, data)
                after = stored() if request.method == "POST" else {}
                transaction.set_rollback(True)
            role.client.cookies = cookies
            sent += 1
            problems += [f"{role_name}: {request}: {p}" for p in problems_of(request, role, response, before, after)]
    return sent, problems


# --------------------------------------------------------------------------- tests


def test_every_url_pattern_is_walked_or_skipped():
    """A page can't dodge the walk: each pattern is walked (its arguments known) or skipped
    with a reason; and nothing skipped by name or asked of MEMBER_MAY_POST has gone away."""
    patterns = list(url_patterns())
    unfillable = []
    for pattern in patterns:
        if skip_reason(pattern) is None:
            try:
                classify(pattern)
            except ValueError as exc:
                unfillable.append(str(exc))
    assert not unfillable, "\n".join(unfillable)
    names = {p.name for p in patterns}
    assert not (set(SKIPPED_NAMES) | set(PUBLIC) | set(MEMBER_MAY_POST)) - names, "a listed page no longer exists"

    walked = {page.name for page in walked_pages()}
    # The pages the issue names are among those walked (the discovery itself works).
    assert {"marketplace:browse", "marketplace:installation", "marketplace:uninstall", "tenants:members",
            "tenants:set-password", "marketplace:login", "plugyard-runtime",
            "admin:marketplace_listing_review"} <= walked
    assert not any(name.startswith("admin:auth_") for name in walked)


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_as_each_role_with_bad_input(role, make_actor):
    world = build_world(make_actor)
    sent, problems = walk(world, role)
    assert sent > 200
    assert not problems, f"{len(problems)} problems in {sent} requests:\n" + "\n".join(problems)


@pytest.mark.django_db
def test_every_post_without_a_csrf_token_is_refused_and_stores_nothing(make_actor):
    world = build_world(make_actor)
    client = world.client("admin", enforce_csrf_checks=True)
    problems = []
    for page in walked_pages():
        for target in world.targets(page)[:1]:
            url = reverse(page.pattern.name, kwargs=target.kwargs)
            with transaction.atomic():
                before = stored()
                response = client.post(url, stale_fields(world))
                after = stored()
                transaction.set_rollback(True)
            if response.status_code != 403 or changed(before, after):
                problems.append(f"POST {url}: {response.status_code}, stored {changed(before, after)}")
    assert not problems, "\n".join(problems)

