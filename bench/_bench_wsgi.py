"""config.wsgi with two things added for neighbour_bench.py: a timing header, and a cap under test.

``gunicorn _bench_wsgi:application`` serves Plugyard exactly as ``config.wsgi`` does, and

* answers every request with ``X-Bench-App-Ms``: the milliseconds from the moment a gunicorn
  thread called the application until it returned, so a client can split its own latency
  into waiting (for a thread, on the socket) and being served (Django, the sandbox call);
* with ``PLUGYARD_BENCH_ROUTE_THREADS=N`` (N > 0), lets one tenant hold at most N of a
  gunicorn process's threads in ``/ext/`` routes and answers a request over that 429 at
  once, instead of letting it take a thread to wait for a sandbox slot it could not get.
  A remedy under test, not Plugyard's: the tenant is read from the ``X-Tenant-Slug``
  header here; the real change would count ``request.tenant`` after authentication, in
  plugins_core/routes.py.
"""
from __future__ import annotations

import os
import threading
import time
from collections import defaultdict

from config.wsgi import application as _django

_LIMIT = int(os.environ.get("PLUGYARD_BENCH_ROUTE_THREADS", "0"))
_lock = threading.Lock()
_held: defaultdict[str, int] = defaultdict(int)
_BUSY = b'{"error": {"code": "tenant_busy", "message": "This tenant holds its share of this server\'s threads."}}'


def application(environ, start_response):
    started = time.perf_counter()

    def timed_start_response(status, headers, exc_info=None):
        app_ms = (time.perf_counter() - started) * 1000
        return start_response(status, [*headers, ("X-Bench-App-Ms", f"{app_ms:.3f}")], exc_info)

    if not _LIMIT or not environ.get("PATH_INFO", "").startswith("/ext/"):
        return _django(environ, timed_start_response)
    tenant = environ.get("HTTP_X_TENANT_SLUG", "")
    with _lock:
        if _held[tenant] >= _LIMIT:
            timed_start_response("429 Too Many Requests", [
                ("Content-Type", "application/json"), ("Retry-After", "1"), ("Content-Length", str(len(_BUSY)))])
            return [_BUSY]
        _held[tenant] += 1
    try:
        # Django's responses here are lists, whole when returned: the thread is done with them.
        return _django(environ, timed_start_response)
    finally:
        with _lock:
            _held[tenant] -= 1
