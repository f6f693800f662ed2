"""Upload benchmark: prints a markdown section. Standalone: `.venv/bin/python bench/upload_bench.py`.

Uploads a ~1 MB package (the SBH guide's example plugin plus a static/ file of random bytes,
so it does not compress away; a new version each time) through the real API —
``POST /api/plugins/upload`` with Django's test ``Client``, in process, with the real
authentication headers — on a throwaway SQLite database. The load check runs where it
runs in production: in the machine's sandbox service (``manage.py sandboxd``, started here
as a subprocess), reached through ``get_sandbox()``. Reports p50 / p99 and where the time
goes: the load check (``SandboxClient.inspect``, and of it the service's own figure,
``LoadReport.duration_ms``) and the other stages of ``services.upload_package``, timed by
wrapping them for the run.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections import defaultdict
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

TARGET_P50_MS = 150.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3, help="uploads before timing starts (not counted)")
    parser.add_argument("--static-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--gap", type=float, default=0.5,
                        help="seconds between timed uploads (the spare jail starts in between)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="plugyard-bench-upload-") as tmp, contextlib.ExitStack() as stack:
        env = boot(Path(tmp))
        # The load check runs in the machine's sandbox service, as in production.
        stack.callback(stop_process, start_sandboxd(env, Path(tmp) / "sandboxd.log"))
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.test import Client
        from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

        from plugins_core import packages, services
        from plugins_core.sandboxes import get_sandbox

        tenant, _, token = make_tenant("bench-upload")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_TENANT_SLUG=tenant.slug)

        stages: dict[str, list[float]] = defaultdict(list)
        current: dict[str, float] = {}

        def timed(name: str, fn):
            def wrapper(*a, **kw):
                started = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    current[name] = current.get(name, 0.0) + (time.perf_counter() - started) * 1000
            return wrapper

        sandbox = get_sandbox()
        inspect = timed("sandbox load check (SandboxClient.inspect → sandboxd)", sandbox.inspect)
        inside: dict[str, float] = {}

        def inspect_and_note(*a, **kw):
            report = inspect(*a, **kw)
            inside["of it, inside sandboxd (its LoadReport.duration_ms)"] = report.duration_ms
            return report

        sandbox.inspect = inspect_and_note
        packages.parse_upload = timed("read + validate archive (SDK reader, manifest, code scan)", packages.parse_upload)
        packages.unpack = timed("unpack to the plugin root", packages.unpack)
        packages.store_archive = timed("store archive (default_storage)", packages.store_archive)
        services._record_upload = timed("database rows (one transaction)", services._record_upload)

        static = os.urandom(args.static_bytes)
        sizes: list[int] = []

        def upload(n: int) -> float:
            archive = make_zip(sbh_plugin(version=f"1.0.{n}", extra={"static/blob.bin": static}))
            body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile(f"my-plugin-1.0.{n}.zip", archive)})
            current.clear()
            inside.clear()
            started = time.perf_counter()
            response = client.generic("POST", "/api/plugins/upload", body, content_type=MULTIPART_CONTENT)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 201:
                raise SystemExit(f"upload {n} answered {response.status_code}: {response.content[:500]!r}")
            sizes.append(len(archive))
            return elapsed

        totals, back_to_back = [], []
        for n in range(args.warmup):
            upload(n)
        for n in range(args.warmup, args.warmup + args.uploads):
            time.sleep(args.gap)
            totals.append(upload(n))
            for name, value in current.items():
                stages[name].append(value)
            stages["rest: HTTP, auth, multipart parsing, event/load-report checks, serializer"].append(
                totals[-1] - sum(current.values()))
            for name, value in inside.items():  # a part of the load check, not a stage of its own
                stages[name].append(value)
        for n in range(args.warmup + args.uploads, args.warmup + 2 * args.uploads):
            back_to_back.append(upload(n))
        layers = sandbox.status().get("layers") or {}

    p50, p99 = pct(totals, 0.5), pct(totals, 0.99)
    print("## Upload: 1 MB package through the API\n")
    print(f"`POST /api/plugins/upload` through Django's test `Client` in process (real URL routing, "
          f"middleware, token authentication, multipart parsing; no network socket), on SQLite. "
          f"Package: the SBH example plugin plus `static/blob.bin` of {args.static_bytes} random bytes, "
          f"a new version each upload; archive size {statistics.median(sizes) / 1e6:.2f} MB. "
          f"{args.uploads} timed uploads {args.gap:g} s apart after {args.warmup} warm-up uploads; with "
          f"{args.uploads} samples p99 is the slowest but at most one. The gap lets the spare jail the "
          f"previous check started finish loading (docs/sandbox.md); then {args.uploads} more back to back, "
          f"where each check meets a spare still starting. The load check runs in a `manage.py sandboxd` "
          f"subprocess (the machine's sandbox service), reached over its Unix socket. Sandbox layers: "
          f"{', '.join(k for k, v in layers.items() if v) or 'none'}.\n")
    print_table([
        ("upload + validate + store, p50", fmt_ms(p50), f"≤ {TARGET_P50_MS:.0f} ms — {verdict(p50 <= TARGET_P50_MS)}"),
        ("upload + validate + store, p99", fmt_ms(p99), "—"),
        ("min / max", f"{fmt_ms(min(totals))} / {fmt_ms(max(totals))}", "—"),
        ("back to back: p50 / p99", f"{fmt_ms(pct(back_to_back, 0.5))} / {fmt_ms(pct(back_to_back, 0.99))}", "—"),
    ])
    print("\nWhere the time goes (median per upload with the gap; the stages are timed separately, so their "
          "medians need not add up exactly to the total's):\n")
    total_median = statistics.median(totals)
    rows = []
    for name, values in sorted(stages.items(), key=lambda item: -statistics.median(item[1])):
        if name.startswith("of it"):
            continue
        share = statistics.median(values) / total_median * 100
        rows.append((name, fmt_ms(statistics.median(values)), f"{share:.0f} %"))
        if name.startswith("sandbox load check"):
            for part, inner in stages.items():
                if part.startswith("of it"):
                    rows.append((f"↳ {part}", fmt_ms(statistics.median(inner)),
                                 f"{statistics.median(inner) / total_median * 100:.0f} %"))
    print_table(rows, ("stage", "median", "share of median total"))
    print()


if __name__ == "__main__":
    main()
