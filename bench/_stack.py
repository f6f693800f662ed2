"""The Procfile's processes for a benchmark, and a small client of the public API.

`Stack` starts what `make run` starts — the sandbox service (``manage.py sandboxd``),
gunicorn as the Procfile runs it (2 workers × 16 threads, gthread) and a Celery worker as
the Procfile runs it (threads pool, concurrency 16) — on the environment
``_common.boot`` returned, so all of them share the benchmark's throwaway database,
filesystem broker and sandbox socket. `Api` talks to that gunicorn as a tenant's owner
does: Bearer token and ``X-Tenant-Slug``, uploads, enabling, devices.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
from _common import LOCAL, ROOT, free_port, make_zip, start_sandboxd, stop_process, wait_for_port

__all__ = ["Api", "Stack", "plugin_zip"]

VENV_BIN = ROOT / ".venv" / "bin"


class Stack:
    """sandboxd, then gunicorn and a Celery worker; `stop()` stops them in the reverse order."""

    def __init__(self, env: dict[str, str], tmp: Path, *, web_workers: int = 2, web_threads: int = 16,
                 worker_concurrency: int = 16) -> None:
        self.env, self.tmp = env, tmp
        self.web_workers, self.web_threads, self.worker_concurrency = web_workers, web_threads, worker_concurrency
        self.port = free_port()
        self.base = f"http://{LOCAL}:{self.port}"
        self.sandboxd: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    @property
    def processes(self) -> list[subprocess.Popen]:
        return [p for p in (self.sandboxd, self.web, self.worker) if p is not None]

    def _start(self, name: str, command: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(self.tmp / f"{name}.log", "ab") as log:
            return subprocess.Popen(command, cwd=ROOT, env={**self.env, **(extra_env or {})}, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start_sandboxd(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        self.sandboxd = start_sandboxd({**self.env, **(extra_env or {})}, self.tmp / "sandboxd.log")
        return self.sandboxd

    def restart_sandboxd(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """Stop the service (every jail with it) and start another on the same socket; callers'
        kept connections are stale then, and their next call reconnects."""
        if self.sandboxd is not None:
            stop_process(self.sandboxd, timeout=20)
        return self.start_sandboxd(extra_env)

    def start_web(self, app: str = "config.wsgi", extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """The Procfile's web line (``app`` may wrap config.wsgi), without its access log."""
        self.web = self._start("gunicorn", [
            str(VENV_BIN / "gunicorn"), app, "--bind", f"{LOCAL}:{self.port}",
            "--workers", str(self.web_workers), "--threads", str(self.web_threads), "--timeout", "60",
            "--log-level", "warning", *([] if app == "config.wsgi" else ["--pythonpath", str(ROOT / "bench")])],
            extra_env)
        wait_for_port(self.port)
        return self.web

    def restart_web(self, app: str = "config.wsgi", extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """Stop gunicorn and start it again on the same port (open keep-alive connections break)."""
        if self.web is not None:
            stop_process(self.web, timeout=20)
        return self.start_web(app, extra_env)

    def start_worker(self, program: list[str] | None = None, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """The Procfile's worker line (no -Q: it consumes every queue settings declare);
        ``program`` replaces ``celery -A config`` (a wrapper that times stages, say)."""
        self.worker = self._start("celery", [
            *(program or [str(VENV_BIN / "celery"), "-A", "config"]), "worker", "--loglevel", "WARNING",
            "--pool", "threads", "--concurrency", str(self.worker_concurrency), "--without-gossip",
            "--without-mingle"], extra_env)
        return self.worker

    def restart_worker(self, program: list[str] | None = None, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """Stop the worker (it finishes its tasks first) and start another."""
        if self.worker is not None:
            stop_process(self.worker, timeout=30)
        return self.start_worker(program, extra_env)

    def start(self, worker_program: list[str] | None = None, web_app: str = "config.wsgi") -> Stack:
        self.start_sandboxd()
        self.start_web(web_app)
        self.start_worker(worker_program)
        return self

    def check_alive(self) -> None:
        for name, process in (("sandboxd", self.sandboxd), ("gunicorn", self.web), ("celery", self.worker)):
            if process is not None and process.poll() is not None:
                raise SystemExit(f"{name} exited ({process.returncode}): {self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 2000) -> str:
        try:
            return (self.tmp / f"{name}.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process, timeout=20)
        self.sandboxd = self.web = self.worker = None


class Api:
    """One tenant owner's calls to the public API (a `requests.Session`: keep-alive)."""

    def __init__(self, base: str, tenant_slug: str, token: str) -> None:
        self.base, self.tenant_slug, self.token = base, tenant_slug, token
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "X-Tenant-Slug": tenant_slug})

    def probe(self, path: str, timeout: float = 30) -> tuple[int, float, float]:
        """(status, seconds, the server's own seconds from bench/_bench_wsgi.py's header, else NaN),
        on a new connection each time (gunicorn keeps a kept-alive one in the same process)."""
        started = time.perf_counter()
        try:
            response = self.session.get(self.base + path, timeout=timeout, headers={"Connection": "close"})
        except requests.RequestException:
            return 0, time.perf_counter() - started, float("nan")
        elapsed = time.perf_counter() - started
        return response.status_code, elapsed, float(response.headers.get("X-Bench-App-Ms", "nan")) / 1000

    def fresh(self) -> Api:
        """The same tenant owner on a new session (new connections)."""
        return Api(self.base, self.tenant_slug, self.token)

    def get(self, path: str, timeout: float = 30, *, close: bool = False) -> tuple[int, float]:
        """(status, seconds); status 0 when the request itself failed. ``close``: a new
        connection for this request (gunicorn keeps a kept-alive one in the same process)."""
        started = time.perf_counter()
        try:
            status = self.session.get(self.base + path, timeout=timeout,
                                      headers={"Connection": "close"} if close else None).status_code
        except requests.RequestException:
            status = 0
        return status, time.perf_counter() - started

    def post_json(self, path: str, body: dict[str, Any], timeout: float = 30) -> tuple[int, Any, float]:
        started = time.perf_counter()
        response = self.session.post(self.base + path, json=body, timeout=timeout)
        elapsed = time.perf_counter() - started
        try:
            data = response.json()
        except ValueError:
            data = response.text[:300]
        return response.status_code, data, elapsed

    def install(self, archive: bytes, filename: str) -> int:
        """Upload (POST /api/plugins/upload) and enable (POST /api/plugins/<id>/enable); the installation id."""
        response = self.session.post(self.base + "/api/plugins/upload", files={"file": (filename, archive)},
                                     timeout=60)
        if response.status_code != 201:
            raise SystemExit(f"upload of {filename} answered {response.status_code}: {response.text[:500]}")
        installation = response.json()["id"]
        response = self.session.post(self.base + f"/api/plugins/{installation}/enable", timeout=60)
        if response.status_code != 200:
            raise SystemExit(f"enabling {filename} answered {response.status_code}: {response.text[:500]}")
        return installation

    def create_device(self, name: str) -> tuple[int, Any, float]:
        return self.post_json("/api/devices/", {"name": name, "type": "server"})


def plugin_zip(directory: Path, **manifest: Any) -> bytes:
    """A test plugin's files as an archive, with manifest fields replaced (a new slug, say)."""
    files = {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}
    if manifest:
        files["plugin.json"] = json.dumps({**json.loads(files["plugin.json"]), **manifest}).encode()
    return make_zip(files)
