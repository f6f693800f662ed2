"""``plugyard logs [--follow]``: an installation's invocations and their log lines, as they happen.

The feed is ``GET /api/plugins/<id>/invocations?after=<id>`` (oldest first, past a
cursor). A call is printed once, when it has finished; the cursor stays before the oldest
call still running, so a slow hook is printed when it ends, not lost. ``dev`` follows the
same feed between pushes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Final, TextIO

from ._build import CliError, collect_source_files
from ._client import Connection, connect
from .manifest import MANIFEST_FILENAMES, parse_manifest
from .problems import PackageInvalid

__all__ = ["Feed", "find_installation", "format_invocation"]

#: Statuses after which a call never changes (the server's ``TERMINAL_STATUSES``).
FINISHED: Final = frozenset({"ok", "error", "timeout", "memory", "crash", "denied", "skipped", "busy", "unavailable"})
#: A call still running after this long is given up on (its row is printed if it ends later).
_STUCK_S: Final = 120.0


def folder_slug(directory: Path) -> str | None:
    """The slug of the plugin in ``directory`` (its manifest's), or None."""
    files = collect_source_files(directory)
    for name in MANIFEST_FILENAMES:
        if name in files:
            try:
                return parse_manifest(name, files[name]).slug
            except PackageInvalid:
                return None
    return None


def find_installation(conn: Connection, installation: int | None, directory: Path) -> dict[str, Any] | None:
    """The tenant's installation ``installation``, else the one of the folder's plugin (or None)."""
    _, listed = conn.call("GET", "/api/plugins/", what="the plugin list")
    rows = listed if isinstance(listed, list) else []
    if installation is not None:
        for row in rows:
            if row.get("id") == installation:
                return row
        raise CliError(f"the tenant has no installation {installation} (GET /api/plugins/ lists them)")
    slug = folder_slug(directory)
    return next((row for row in rows if slug and row.get("slug") == slug), None)


def format_invocation(row: dict[str, Any]) -> list[str]:
    """One finished call as lines: time, kind, name, status, duration; then its logs and error."""
    stamp = str(row.get("finished_at") or row.get("created_at") or "")[11:19]
    what = row.get("name") or "?"
    if row.get("event_type") and row.get("kind") == "hook":
        what = f"{row['event_type']} → {what}"
    ms = row.get("duration_ms")
    took = f" {ms:.0f} ms" if isinstance(ms, int | float) else ""
    lines = [f"{stamp} #{row.get('id')} {row.get('kind')} {what}: {row.get('status')}{took}"]
    lines += [f"    | {line}" for line in row.get("logs") or []]
    if row.get("error"):
        lines += [f"    ! {line}" for line in str(row["error"]).splitlines()[:6]]
    return lines


class Feed:
    """An installation's finished calls since a cursor, each printed once."""

    def __init__(self, conn: Connection, installation: int, out: TextIO | None = None) -> None:
        self.conn, self.installation, self.out = conn, installation, out
        self.cursor = 0
        self._shown: set[int] = set()
        self._running_since: dict[int, float] = {}

    def start_at_latest(self) -> None:
        """Skip what happened before now."""
        _, page = self.conn.call("GET", f"/api/plugins/{self.installation}/invocations?limit=1", what="the log")
        results = page.get("results") if isinstance(page, dict) else None
        self.cursor = int(results[0]["id"]) if results else 0

    def show_last(self, count: int) -> None:
        """Print the last ``count`` calls, oldest first, and follow from the newest."""
        _, page = self.conn.call("GET", f"/api/plugins/{self.installation}/invocations?limit={count}", what="the log")
        rows = list(reversed(page.get("results") or [])) if isinstance(page, dict) else []
        for row in rows:
            self._print(row)
        self.cursor = max([self.cursor, *(int(r["id"]) for r in rows)])

    def poll(self) -> int:
        """Print the calls finished since the last poll; returns how many."""
        _, page = self.conn.call(
            "GET", f"/api/plugins/{self.installation}/invocations?after={self.cursor}&limit=100", what="the log"
        )
        rows = (page.get("results") or []) if isinstance(page, dict) else []
        printed, now, held = 0, time.monotonic(), None
        for row in rows:
            ident = int(row["id"])
            if row.get("status") in FINISHED:
                if ident not in self._shown:
                    self._print(row)
                    printed += 1
                self._running_since.pop(ident, None)
            elif now - self._running_since.setdefault(ident, now) < _STUCK_S and held is None:
                held = ident  # the cursor may not pass a call that has not finished
            if held is None:
                self.cursor = ident
        return printed

    def _print(self, row: dict[str, Any]) -> None:
        self._shown.add(int(row["id"]))
        for line in format_invocation(row):
            print(line, file=self.out or sys.stdout, flush=True)


def _cmd_logs(args: argparse.Namespace) -> int:
    conn = connect(args.timeout, "read the log")
    found = find_installation(conn, args.installation, Path(args.path))
    if found is None:
        raise CliError("no installation of this folder's plugin: pass --installation ID, or run plugyard dev first")
    feed = Feed(conn, int(found["id"]))
    feed.show_last(args.limit)
    if not args.follow:
        return 0
    print(f"Following {found['slug']} (installation {found['id']}); Ctrl-C stops.", flush=True)
    try:
        while True:
            time.sleep(args.interval)
            feed.poll()
    except KeyboardInterrupt:
        return 0


def add_command(commands: Any) -> None:
    logs = commands.add_parser("logs", help="print an installation's recent invocations and logs (--follow: live)")
    logs.add_argument("path", nargs="?", default=".", metavar="DIR", help="the plugin folder (finds its installation)")
    logs.add_argument("--installation", type=int, help="the installation id (default: the folder's plugin)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new calls as they finish")
    logs.add_argument("--limit", type=int, default=20, help="how many recent calls to print first")
    logs.add_argument("--interval", type=float, default=0.5, help="seconds between polls with --follow")
    logs.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server")
    logs.set_defaults(run=_cmd_logs)
