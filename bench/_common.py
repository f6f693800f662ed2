"""Shared setup for the benchmark scripts: a throwaway Django environment, plugins, tables.

Every script calls :func:`boot` first. It points Plugyard at a temporary directory
(``PLUGYARD_VAR_DIR``), a SQLite database there unless a ``postgres://`` URL is given, sets
the environment *before* Django reads its settings, runs ``migrate`` and returns the
environment so the script can hand the same one to gunicorn or Celery subprocesses.
"""
from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SBH_FIXTURE = ROOT / "tests" / "fixtures" / "plugins" / "sbh-my-plugin"
LOCAL = "127.0.0.1"

__all__ = [
    "LOCAL", "ROOT", "boot", "dump", "fmt_ms", "free_port", "make_tenant", "make_zip", "minimal_plugin",
    "pct", "print_table", "sbh_plugin", "start_sandboxd", "stop_process", "verdict", "wait_for_port",
]


def boot(tmp: Path, *, database_url: str | None = None, extra_env: dict[str, str] | None = None,
         migrate: bool = True) -> dict[str, str]:
    """Configure and set up Django on a throwaway database under ``tmp``; return the env used."""
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PLUGYARD_VAR_DIR": str(tmp),
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
        "DEBUG": "false",
        "CELERY_BROKER_URL": "filesystem://",
        "LOG_LEVEL": "WARNING",
        # tmp too: a script may put a settings overlay there (events_bench --polling-interval).
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "sdk"), str(tmp)]),
        **(extra_env or {}),
    }
    for stray in ("CACHE_URL", "PLUGYARD_MEDIA_ROOT", "PLUGYARD_PLUGIN_ROOT"):  # keep everything under tmp
        os.environ.pop(stray, None)
    os.environ.update(env)
    sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]
    sys.path.append(str(tmp))
    (tmp / "static").mkdir(exist_ok=True)  # STATIC_ROOT: whitenoise warns when it is missing
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    return {**os.environ, **env}


def make_tenant(slug: str):
    """A tenant with its owner and the owner's clear API token, as production creates them."""
    from tenants.services import create_tenant_with_owner

    tenant, membership, token = create_tenant_with_owner(slug, f"owner@{slug}.test")
    return tenant, membership, token


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sbh_plugin(*, version: str = "1.0.0", slug: str | None = None, extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """The SBH guide's example plugin (tests/fixtures/plugins/sbh-my-plugin) with a new version/slug."""
    files = {
        str(p.relative_to(SBH_FIXTURE)).replace(os.sep, "/"): p.read_bytes()
        for p in sorted(SBH_FIXTURE.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
    }
    manifest = json.loads(files["plugin.json"])
    manifest["version"] = version
    if slug:
        manifest["slug"] = slug
    files["plugin.json"] = json.dumps(manifest, indent=2).encode()
    return {**files, **(extra or {})}


_MINIMAL = (
    'from src.ext.sdk import hook\n\n'
    '@hook("auth.user.created")\n'
    'def on_user_created(ctx, event_data):\n'
    '    return {"seen": event_data["user"]["id"]}\n'
)


def minimal_plugin(slug: str, version: str = "1.0.0") -> dict[str, bytes]:
    """An SBH plugin whose only code is one auth.user.created hook that returns at once."""
    manifest = {"slug": slug, "name": slug.replace("-", " ").title(), "version": version,
                "description": "benchmark subscriber", "author": "bench", "entry": "main.py",
                "permissions": [], "events": ["auth.user.created"]}
    return {"plugin.json": json.dumps(manifest).encode(), "main.py": _MINIMAL.encode()}


def pct(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOCAL, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {LOCAL}:{port} after {timeout:g} s")


def print_table(rows: list[tuple[str, str, str]], header: tuple[str, str, str] = ("measure", "result", "target")) -> None:
    print(f"| {' | '.join(header)} |\n|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def start_sandboxd(env: dict[str, str], log_path: Path, timeout: float = 60.0) -> subprocess.Popen:
    """The machine's sandbox service (`manage.py sandboxd`) for this benchmark's environment,
    on the socket its settings name; returns once it answers."""
    from plugins_core.sandbox import SandboxClient
    from plugins_core.sandboxes import policy

    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "manage.py", "sandboxd"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    client = SandboxClient(policy())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandboxd exited: {log_path.read_text()[-2000:]}")
        if client.ping():
            client.close()
            return process
        time.sleep(0.05)
    raise RuntimeError(f"sandboxd did not answer: {log_path.read_text()[-2000:]}")


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process's group (it was started in a session of its own), then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=timeout)
