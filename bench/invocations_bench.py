"""Per-invocation host overhead of the invocation record: claim + record, in µs, SQLite and PostgreSQL.

What `dispatch.send_all` does around each hook call, without the call: create the pending
rows of an event (bulk), claim them (one transaction), fill each in as finished
(`invocations.finish`, capping included) and write them (`invocations.save_all`). Each leg
runs in a subprocess on its own throwaway database (the PostgreSQL one created and dropped).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import boot, make_tenant, print_table

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def leg(backend: str, events: int, rows: int) -> None:
    database = f"plugyard_bench_inv_{os.getpid()}"
    url = None
    if backend == "postgres":
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        url = f"postgres://postgres@127.0.0.1:5432/{database}"
    try:
        with tempfile.TemporaryDirectory(prefix="plugyard-bench-inv-") as tmp:
            boot(Path(tmp), database_url=url)
            from plugins_core import invocations
            from plugins_core.events.models import Event
            from plugins_core.models import (
                Installation,
                Invocation,
                InvocationStatus,
                Plugin,
                PluginVersion,
            )

            tenant, membership, _token = make_tenant("bench-inv")
            plugin = Plugin.objects.create(slug="p", name="p", publisher=tenant)
            version = PluginVersion.objects.create(plugin=plugin, version="1.0.0", manifest={}, sha256="0" * 64,
                                                   size=1, package="x", uploaded_by=membership.user)
            installation = Installation.objects.create(tenant=tenant, plugin=plugin, version=version, enabled=True,
                                                       installed_by=membership.user)
            per_row: list[float] = []
            for _ in range(events):
                event = Event.objects.create(tenant=tenant, type="build.completed", payload={"build_id": 1})
                started = time.perf_counter()
                invocations.create_pending(
                    Invocation(tenant_id=tenant.pk, installation=installation, event=event, kind="hook",
                               name=f"h{n}", status=InvocationStatus.PENDING) for n in range(rows))
                claims = invocations.claim_rows(Invocation.objects.filter(event=event, kind="hook"))
                records = [c.invocation for c in claims if c.run]
                for record in records:
                    invocations.finish(record, InvocationStatus.OK, value={"seen": 1}, duration_ms=0.3,
                                       logs=["a line"], report={"ctx_calls": []}, commit=False)
                invocations.save_all(records)
                per_row.append((time.perf_counter() - started) / rows * 1e6)
                assert len(records) == rows
            print(f"{statistics.median(per_row):.1f} {min(per_row):.1f}")
    finally:
        if backend == "postgres":
            from django.db import connections

            connections.close_all()
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leg", choices=["sqlite", "postgres"])
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--rows", type=int, default=100)
    args = parser.parse_args()
    if args.leg:
        leg(args.leg, args.events, args.rows)
        return
    results = {}
    for backend in ("sqlite", "postgres"):
        out = subprocess.run([sys.executable, __file__, "--leg", backend, "--events", str(args.events),
                              "--rows", str(args.rows)], capture_output=True, text=True, timeout=600)
        results[backend] = out.stdout.split() if out.returncode == 0 else None
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
    print(f"## Invocation record: host overhead per invocation (claim + record)\n\n{__doc__.split(chr(10), 2)[2]}\n"
          f"{args.events} events × {args.rows} rows each, one process, no plugin call.\n")
    rows = []
    for backend, label in (("sqlite", "SQLite (WAL)"), ("postgres", "PostgreSQL (127.0.0.1)")):
        got = results[backend]
        rows.append((f"{label}: pending row + claim + finish + write, per invocation (median / best event)",
                     f"{got[0]} µs / {got[1]} µs" if got else "failed", "—"))
    print_table(rows)
    print()


if __name__ == "__main__":
    main()
