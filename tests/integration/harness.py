"""Real Celery workers and beat as subprocesses, sharing the test process's database and broker.

How the subprocesses see the test's data:

* **Database.** pytest-django creates a test database; a subprocess must open the *same* one,
  so tests that use it take ``transactional_db`` (rows are committed, not hidden in a
  rolled-back transaction). On PostgreSQL the subprocess gets ``DATABASE_URL`` naming
  pytest-django's test database (``test_plugyard``). On SQLite the test database is
  normally in memory, which no other process can open: :func:`configure_session` (called
  from ``pytest_configure`` in the integration and fault conftests, i.e. before pytest-django
  creates the database) sets ``DATABASES["default"]["TEST"]["NAME"]`` to a file in a
  session temporary directory, and the subprocess gets ``DATABASE_URL=sqlite:///that-file``.
  WAL mode (settings) lets them read while the test writes.
* **Broker.** Embedded path: kombu's filesystem transport in the session directory (never
  the developer's ``var/broker``). Redis path (``PLUGYARD_TEST_REDIS_URL`` set, as the
  Makefile's test-postgres leg does): that Redis database, emptied at session start.
  The test process's Celery app is pointed at the same broker.
* **Files and keys.** Packages and unpacked plugins go to fixed session directories (the
  conftests override the per-test ``_isolated_storage``), and the subprocesses get the test
  process's ``SECRET_KEY`` and Fernet keys, so both sides read the same secrets and packages.

Workers are started as ``python -m tests.integration.celery_main worker …`` in their own
process group, so a fault test can ``kill -9`` the whole worker (main process and pool).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Session:
    root: Path
    broker_url: str
    media: Path = field(init=False)
    plugins: Path = field(init=False)
    var: Path = field(init=False)

    def __post_init__(self) -> None:
        self.media, self.plugins, self.var = self.root / "media", self.root / "plugins", self.root / "var"
        for directory in (self.media, self.plugins, self.var / "broker" / "out", self.var / "broker" / "processed"):
            directory.mkdir(parents=True, exist_ok=True)

    @property
    def redis(self) -> bool:
        return self.broker_url.startswith("redis")


_session: Session | None = None


def configure_session() -> Session:
    """Point the test database (SQLite) and the broker where subprocesses can reach them."""
    global _session
    if _session is not None:
        return _session
    from django.conf import settings
    from django.db import connections

    root = Path(tempfile.mkdtemp(prefix="plugyard-it-"))
    redis_url = os.environ.get("PLUGYARD_TEST_REDIS_URL")
    _session = Session(root, redis_url or "filesystem://")

    database = connections["default"].settings_dict
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(root / "test.sqlite3")
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(root / "test.sqlite3")

    from config.celery import app

    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        app.conf.broker_url = redis_url
        app.conf.broker_transport = None  # settings chose the embedded transport
        app.conf.broker_transport_options = {}
    else:
        folder = str(_session.var / "broker" / "out")
        app.conf.broker_url = "filesystem://"
        app.conf.broker_transport_options = {
            "data_folder_in": folder, "data_folder_out": folder,
            "processed_folder": str(_session.var / "broker" / "processed"), "store_processed": False,
        }
    return _session


def unconfigure_session() -> None:
    if _session is not None:
        shutil.rmtree(_session.root, ignore_errors=True)


def session() -> Session:
    if _session is None:
        raise RuntimeError("configure_session() was not called (pytest_configure in the conftest)")
    return _session


def database_url() -> str:
    """A URL for the test database pytest-django created (call once it exists)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth + '@' if auth else ''}{host}{port}/{db['NAME']}"


def subprocess_env(broker_url: str | None = None, **extra: str) -> dict[str, str]:
    from django.conf import settings

    s = session()
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url or s.broker_url,
        "PLUGYARD_VAR_DIR": str(s.var),
        "PLUGYARD_MEDIA_ROOT": str(s.media),
        "PLUGYARD_PLUGIN_ROOT": str(s.plugins),
        "SECRET_KEY": settings.SECRET_KEY,
        "PLUGYARD_FERNET_KEYS": ",".join(settings.PLUGYARD_FERNET_KEYS),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def queues() -> str:
    """The queues settings route tasks to, plus Celery's default one."""
    from django.conf import settings

    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    names = {"celery"}
    if isinstance(routes, dict):
        names |= {route["queue"] for route in routes.values() if isinstance(route, dict) and "queue" in route}
    return ",".join(sorted(names))


class Process:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], ready: str) -> None:
        self.name, self.argv, self.env, self.ready = name, argv, env, ready
        self.log = session().root / f"{name}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Process:
        self.log = session().root / f"{self.name}-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready in self.output():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.output()[-4000:]}")

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9 the whole group: the main process and every child it forked."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 10) -> None:
        if not self.running:
            self.kill()  # reap any children left in the group
            return
        self.proc.send_signal(signal.SIGTERM)  # warm shutdown: the main process stops its pool
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


def celery(kind: str, *args: str, name: str | None = None, broker_url: str | None = None, **env: str) -> Process:
    argv = [sys.executable, "-m", "tests.integration.celery_main", kind, "--loglevel", "INFO", *args]
    if kind == "worker":
        # The pool the Procfile runs: threads, since a task's plugin code runs in the sandbox
        # service and the worker only waits on it and on the database.
        argv += ["--pool", "threads", "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queues()]
        ready = "ready."
    else:
        argv += ["--max-interval", "1",  # the scheduler is settings.CELERY_BEAT_SCHEDULER
                 "--schedule", str(session().root / f"beat-{time.monotonic_ns()}")]
        ready = "beat: Starting"
    return Process(name or kind, argv, subprocess_env(broker_url, **env), ready)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def web(port: int, **env: str) -> Process:
    """gunicorn as the Procfile runs it (2 workers × 16 threads) on ``port``."""
    argv = [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--threads", "16", "--timeout", "60"]
    return Process("web", argv, subprocess_env(**env), "Booting worker")
