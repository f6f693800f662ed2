"""Marketplace browse benchmark: prints a markdown section. Standalone: `.venv/bin/python bench/browse_bench.py`.

The browse and search pages (``GET /`` with ``q``, ``category``, ``sort``, ``page``) with
10,000 published listings and 1,000 tenants' reviews, through Django's test ``Client`` in
process (URL routing, middleware, session, the view, template rendering; no socket) on a
throwaway SQLite database: p50/p95 time per page, SQL queries per page, and the query count
for page sizes 12 and 48 (it must not grow with the page: every card's figures — install
count, rating, icon — are annotations of the one listing query).

Rows are bulk-created (plugins, versions, listings, package media, installations, reviews);
no package is uploaded, because the browse page reads no package.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import tempfile
import time
from pathlib import Path

from _common import boot, fmt_ms, pct, print_table, verdict

WORDS = ["Monitor", "Invoice", "Summary", "Backup", "Alert", "Sync", "Report", "Audit", "Chat", "Deploy"]


def seed(listings: int, reviews: int, installs: int) -> object:
    """Seed the catalogue; return the signed-in viewer (an admin of a tenant with no plugins)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from marketplace.models import (
        Category,
        Listing,
        ListingStatus,
        PackageMedia,
        PluginReview,
        PricingModel,
    )
    from plugins_core.models import Installation, Plugin, PluginVersion
    from tenants.models import Membership, Role, Tenant

    rng = random.Random(10)
    publisher = Tenant.objects.create(slug="publisher", name="Publisher")
    categories = Category.objects.bulk_create(Category(slug=w.lower(), name=w) for w in WORDS)
    now = timezone.now()
    plugins = Plugin.objects.bulk_create(
        Plugin(slug=f"plugin-{n}", name=f"{WORDS[n % len(WORDS)]} tool {n}", publisher=publisher) for n in range(listings))
    # created_at is auto_now_add: spread it afterwards so "newest" has something to order.
    for n, plugin in enumerate(plugins):
        plugin.created_at = now - dt.timedelta(minutes=n)
    Plugin.objects.bulk_update(plugins, ["created_at"], batch_size=2000)
    versions = PluginVersion.objects.bulk_create(
        (PluginVersion(plugin=p, version="1.0.0", manifest={"slug": p.slug, "name": p.name}, package="packages/none.zip",
                       package_format="zip", sha256="0" * 64, size=1) for p in plugins), batch_size=2000)
    PackageMedia.objects.bulk_create(
        (PackageMedia(version=v, icon="static/icon.png" if n % 3 == 0 else "") for n, v in enumerate(versions)),
        batch_size=2000)
    Listing.objects.bulk_create(
        (Listing(plugin=p, category=categories[n % len(categories)], summary=f"Does {p.name.lower()} things",
                 keywords=[WORDS[n % len(WORDS)].lower(), "bench"], status=ListingStatus.PUBLISHED,
                 pricing_model=PricingModel.FREE, featured=n < 6) for n, p in enumerate(plugins)), batch_size=2000)
    tenants = Tenant.objects.bulk_create(Tenant(slug=f"tenant-{n}", name=f"Tenant {n}") for n in range(100))
    pairs = set()
    while len(pairs) < installs:  # a few popular plugins, a long tail
        pairs.add((rng.choice(tenants), versions[min(int(rng.paretovariate(1.2)) - 1, listings - 1)]
                   if rng.random() < 0.5 else rng.choice(versions)))
    pairs = list(pairs)
    Installation.objects.bulk_create(
        (Installation(tenant=t, plugin_id=v.plugin_id, version=v) for t, v in pairs), batch_size=2000)
    PluginReview.objects.bulk_create(
        (PluginReview(tenant=t, plugin_id=v.plugin_id, rating=rng.randint(1, 5), text="bench")
         for t, v in pairs[:reviews]), batch_size=2000)
    viewer_tenant = Tenant.objects.create(slug="viewer", name="Viewer")
    user = get_user_model().objects.create(username="viewer@bench.test", email="viewer@bench.test")
    Membership.objects.create(user=user, tenant=viewer_tenant, role=Role.ADMIN)
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--reviews", type=int, default=1_000)
    parser.add_argument("--installs", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="plugyard-bench-browse-") as tmp:
        boot(Path(tmp))
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from marketplace import views

        started = time.perf_counter()
        user = seed(args.listings, args.reviews, args.installs)
        seeded_s = time.perf_counter() - started
        client = Client()
        client.force_login(user)
        page_size = views.PAGE_SIZE
        deep = args.listings // page_size - 1

        def measure(params: dict[str, str]) -> tuple[int, list[float], list[float], int]:
            for _ in range(3):  # warm: session, template and query caches
                client.get("/", params)
            with CaptureQueriesContext(connection) as queries:
                response = client.get("/", params)
            count = len(queries)
            assert response.status_code == 200, response.content[:300]
            cards = response.content.decode().count('<h2 class="card-title"')
            times, cpu = [], []
            for _ in range(args.requests):
                t0, c0 = time.perf_counter(), time.thread_time()
                client.get("/", params)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)  # SQLite runs in this thread: its CPU too
            return count, times, cpu, cards

        pages = [
            ("home (page 1, by name, featured row)", {}),
            (f"deep page {deep}, by name", {"page": str(deep)}),
            ("page 1, most installed", {"sort": "popular"}),
            (f"deep page {deep}, most installed", {"sort": "popular", "page": str(deep)}),
            ("page 1, highest rated", {"sort": "rating"}),
            ("page 1, newest", {"sort": "newest"}),
            ("search `monitor`, page 1", {"q": "monitor"}),
            ("search `monitor`, most installed", {"q": "monitor", "sort": "popular"}),
            ("search `tool 99` (rare), by name", {"q": "tool 99"}),
            ("category `audit`, highest rated", {"category": "audit", "sort": "rating"}),
        ]
        rows = []
        for label, params in pages:
            count, times, cpu, cards = measure(params)
            rows.append((label, f"{fmt_ms(pct(times, 0.5))} / {fmt_ms(pct(times, 0.95))} (CPU {fmt_ms(pct(cpu, 0.5))})",
                         f"{count} ({cards} cards)"))

        sizes = {}
        for size in (12, 48):
            views.PAGE_SIZE = size
            sizes[size] = {sort: measure({"sort": sort})[0] for sort in ("name", "popular", "rating", "newest")}
            sizes[size]["search"] = measure({"q": "monitor", "sort": "popular"})[0]

    print(f"## Browse: the marketplace with {args.listings:,} listings and {args.reviews:,} reviews\n")
    print(f"Django's test `Client` in process, signed in with a session (middleware, the view, template "
          f"rendering; no socket), on SQLite. {args.listings:,} published listings in {len(WORDS)} categories, "
          f"{args.installs:,} installations by 100 tenants (a few popular plugins, a long tail), "
          f"{args.reviews:,} reviews, six featured; seeded with bulk_create in {seeded_s:.0f} s. "
          f"{args.requests} timed requests per page after 3 warm-up requests; page size {page_size}.\n")
    load = os.getloadavg()[0]
    print(f"Load average when it finished: {load:.1f} on {os.cpu_count()} CPUs; where other work shares the "
          f"machine, the wall times grow with it and the CPU time of the request's thread (SQLite included) "
          f"does not.\n")
    print_table(rows, header=("page", "server time p50 / p95 (CPU p50)", "SQL queries"))
    print()
    same = all(sizes[12][k] == sizes[48][k] for k in sizes[12])
    print_table(
        [(k, f"{sizes[12][k]} / {sizes[48][k]}", verdict(sizes[12][k] == sizes[48][k])) for k in sizes[12]],
        header=("page (sort)", "SQL queries at page size 12 / 48", "equal (no N+1)"),
    )
    print(f"\nQuery count independent of page size: {verdict(same)}.")


if __name__ == "__main__":
    main()
