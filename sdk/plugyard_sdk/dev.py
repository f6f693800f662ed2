"""``plugyard dev``: on every save, validate, push a dev build, and stream what it does.

The loop: watch the folder (watchfiles), and when what a build would ship changes, build
it, run the server's validator on it locally, and push it as a dev build of the tenant's
installation (``POST /api/plugins/<id>/dev``; ``POST /api/plugins/dev`` before the plugin
is installed). The server checks it as an upload, runs it at once as
``<version>+dev.<n>`` — no version bump, never listed — and deletes the build it
replaces. Between saves the installation's calls are printed as they finish (the
``logs`` feed). Ctrl-C stops the loop and leaves the dev build running; ``--leave``
returns the installation to its released version.

Every HTTP call goes through ``_client`` (the same server, token and tenant as
``publish``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
from pathlib import Path
from typing import Any

from watchfiles import watch

from ._build import CliError, _check, build_archive
from ._client import Connection, _print_warnings, _refused, connect
from .logs import Feed, find_installation

__all__ = ["DevLoop"]


class DevLoop:
    """One folder pushed to one installation; :meth:`push` is one save's work."""

    def __init__(self, conn: Connection, directory: Path, installation: int | None) -> None:
        self.conn, self.directory = conn, directory
        self.installation = installation
        self.digest: str | None = None
        self.feed: Feed | None = None
        self._routes_shown: str | None = None

    def push(self) -> bool:
        """Build, check and push if the shipped files changed; True when a new build runs."""
        started = time.monotonic()
        data, name = build_archive(self.directory)
        digest = hashlib.sha256(data).hexdigest()
        if digest == self.digest:
            return False  # a save that changed nothing shipped (a test, a cache file)
        try:
            _check(data, name, sys.stdout)
        except CliError:
            print("Not pushed: fix the problems above and save again.", flush=True)
            self.digest = digest
            return False
        target = f"/api/plugins/{self.installation}/dev" if self.installation else "/api/plugins/dev"
        status, answer = self.conn.upload(target, name, data)
        self.digest = digest
        if status >= 400:
            _refused("the dev build", status, answer)
            print("Not pushed: fix it and save again.", flush=True)
            return False
        installation = answer["installation"]
        self.installation = int(installation["id"])
        replaced = f" (replaces {answer['replaced']})" if answer.get("replaced") else ""
        if answer.get("unchanged"):
            print(f"Unchanged: {answer['dev_version']} is running already.", flush=True)
        else:
            print(f"Pushed {installation['slug']} {answer['dev_version']}{replaced}"
                  f" in {time.monotonic() - started:.2f} s", flush=True)
        _print_warnings(answer)
        installation = self._enable(installation)
        self._print_routes(installation["slug"], answer.get("routes") or installation.get("routes") or [])
        if self.feed is None:
            self.feed = Feed(self.conn, self.installation)
            self.feed.start_at_latest()
        return True

    def _enable(self, installation: dict[str, Any]) -> dict[str, Any]:
        """Switch it on (granting what the build asks for), as the admin a push needs."""
        if installation.get("enabled") and not installation.get("pending_permissions"):
            return installation
        status, answer = self.conn.call("POST", f"/api/plugins/{self.installation}/enable", {},
                                        what="enabling the plugin", ok=(400,))
        if status == 400:
            _refused("enabling the plugin", status, answer)
            print("  The dev build is in place but switched off until then.", flush=True)
            return installation
        was = "granted " + ", ".join(installation.get("pending_permissions") or []) if installation.get("enabled") else "enabled"
        print(f"  {was} (POST /api/plugins/{self.installation}/enable)", flush=True)
        return answer if isinstance(answer, dict) else installation

    def _print_routes(self, slug: str, routes: list[Any]) -> None:
        lines = [f"  {','.join(r.get('methods') or ['GET']):<10} {self.conn.base}/ext/{slug}{r.get('path', '')}"
                 for r in routes if isinstance(r, dict)]
        shown = "\n".join(lines)
        if lines and shown != self._routes_shown:
            print("Routes (send the token and X-Tenant-Slug, as the API):\n" + shown, flush=True)
        self._routes_shown = shown

    def poll(self) -> None:
        if self.feed is not None:
            try:
                self.feed.poll()
            except CliError as exc:  # a restarting server: say so, and keep watching
                print(f"  (log: {exc})", flush=True)


def _watch(directory: Path, stop: threading.Event, timeout_ms: int):
    """Batches of changes under ``directory`` (and an empty batch every ``timeout_ms``)."""
    return watch(directory, stop_event=stop, debounce=80, step=20, rust_timeout=timeout_ms,
                 yield_on_timeout=True, raise_interrupt=False)


def _cmd_dev(args: argparse.Namespace) -> int:
    conn = connect(args.timeout, "push dev builds", base=args.server)
    directory = Path(args.path).resolve()
    found = find_installation(conn, args.installation, directory)
    loop = DevLoop(conn, directory, int(found["id"]) if found else None)
    where = f" for tenant {conn.tenant}" if conn.tenant else ""
    if args.leave:
        if loop.installation is None:
            raise CliError("no installation of this folder's plugin to return from a dev build")
        _, answer = conn.call("DELETE", f"/api/plugins/{loop.installation}/dev", what="leaving the dev build")
        print(f"{answer.get('slug')} runs {answer.get('version')} again (installation {loop.installation}).")
        return 0
    print(f"Watching {directory} → {conn.base}{where}; Ctrl-C stops.", flush=True)
    loop.push()
    if args.once:
        return 0
    stop = threading.Event()
    try:
        for changes in _watch(directory, stop, int(args.interval * 1000)):
            if changes:
                loop.push()
            loop.poll()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
    if loop.installation is not None:
        print(f"\nStopped. The dev build stays in place; return to the released version with "
              f"`plugyard dev --leave` (DELETE /api/plugins/{loop.installation}/dev).", flush=True)
    return 0


def add_command(commands: Any) -> None:
    dev = commands.add_parser("dev", help="push a dev build on every save and stream its calls (no version bump)")
    dev.add_argument("path", nargs="?", default=".", metavar="DIR")
    dev.add_argument("--server", help="the server's address (default: OPS_CENTER_API_URL or PLUGYARD_URL)")
    dev.add_argument("--installation", type=int, help="the installation id (default: the folder's plugin)")
    dev.add_argument("--interval", type=float, default=0.5, help="seconds between log polls")
    dev.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server")
    dev.add_argument("--once", action="store_true", help="push once and exit (no watching)")
    dev.add_argument("--leave", action="store_true", help="return the installation to its released version and exit")
    dev.set_defaults(run=_cmd_dev)
