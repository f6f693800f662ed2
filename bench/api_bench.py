"""Installation list benchmark: prints a markdown section. Standalone: `.venv/bin/python bench/api_bench.py`.

``GET /api/plugins/`` for one tenant with 5 and then 500 installations, through Django's
test ``Client`` in process on a throwaway SQLite database: the number of SQL queries
(``CaptureQueriesContext``; they must not grow with the number of rows) and the latency.
The first plugin is uploaded through ``services.upload_package``; the other plugins,
versions and installations are bulk-created copies of it with their own slugs.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import (
    boot,
    fmt_ms,
    make_tenant,
    make_zip,
    pct,
    print_table,
    sbh_plugin,
    start_sandboxd,
    stop_process,
    verdict,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=5)
    parser.add_argument("--large", type=int, default=500)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per size")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="plugyard-bench-api-") as tmp:
        env = boot(Path(tmp))
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from plugins_core import services
        from plugins_core.models import Installation, Plugin, PluginVersion

        tenant, membership, token = make_tenant("bench-api")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_TENANT_SLUG=tenant.slug)
        sandboxd = start_sandboxd(env, Path(tmp) / "sandboxd.log")  # the upload's load check runs there
        try:
            first = services.upload_package(tenant, membership.user, make_zip(sbh_plugin()), "my-plugin.zip")
        finally:
            stop_process(sandboxd)
        template = first.version

        def grow_to(count: int) -> None:
            have = Installation.objects.for_tenant(tenant).count()
            new = range(have, count)
            plugins = Plugin.objects.bulk_create(
                Plugin(slug=f"bench-plugin-{n}", name=f"Bench plugin {n}", publisher=tenant) for n in new)
            versions = PluginVersion.objects.bulk_create(
                PluginVersion(
                    plugin=plugin, version=template.version, manifest={**template.manifest, "slug": plugin.slug},
                    config_schema=template.config_schema, package=template.package.name,
                    package_format=template.package_format, sha256=template.sha256, size=template.size,
                    load_report=template.load_report, warnings=template.warnings, uploaded_by=membership.user,
                ) for plugin in plugins)
            Installation.objects.bulk_create(
                Installation(tenant=tenant, plugin=v.plugin, version=v, enabled=n % 2 == 0, config={},
                             granted_permissions=v.permissions if n % 2 == 0 else [], installed_by=membership.user)
                for n, v in enumerate(versions))

        def measure(count: int) -> tuple[int, list[float], int]:
            grow_to(count)
            for _ in range(3):  # warm: the token's last_used_at write, caches, first-query costs
                client.get("/api/plugins/")
            with CaptureQueriesContext(connection) as queries:
                response = client.get("/api/plugins/")
            # Count now: the log is cleared when the next request starts.
            query_count = len(queries)
            assert response.status_code == 200, response.content[:300]
            rows = len(response.json())
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                response = client.get("/api/plugins/")
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            return query_count, times, rows

        small_q, small_t, small_rows = measure(args.small)
        large_q, large_t, large_rows = measure(args.large)

    print(f"## Installation list: `GET /api/plugins/` with {args.small} vs {args.large} installations\n")
    print(f"Django's test `Client` in process (URL routing, middleware, token authentication, "
          f"serializer, JSON rendering; no network socket), on SQLite. One tenant; half of the "
          f"installations enabled. {args.requests} timed requests per size after 3 warm-up requests (p99 of {args.requests} samples is about the slowest). "
          f"The response held {small_rows} and {large_rows} installations.\n")
    print_table([
        (f"SQL queries per request, {args.small} installations", str(small_q), "—"),
        (f"SQL queries per request, {args.large} installations", str(large_q),
         f"equal to the {args.small}-installation count — {verdict(small_q == large_q)}"),
        (f"latency p50 / p99, {args.small} installations", f"{fmt_ms(pct(small_t, 0.5))} / {fmt_ms(pct(small_t, 0.99))}", "—"),
        (f"latency p50 / p99, {args.large} installations", f"{fmt_ms(pct(large_t, 0.5))} / {fmt_ms(pct(large_t, 0.99))}", "—"),
        (f"per installation at {args.large} (p50 / rows)", f"{pct(large_t, 0.5) / large_rows * 1000:.0f} µs", "—"),
    ])
    print()


if __name__ == "__main__":
    main()
