"""``plugyard replay <id>``: run a recorded call again and show the old and new outcome side by side.

The recorded input comes from ``GET /api/invocations/<id>/replay`` (with ``--event``, the
event's handlers from ``GET /api/events/<id>``), secret and personal values already
``[redacted]`` by the server. By default the call runs against the folder's code on this
machine with the test kit (``_local_run``); with ``--server`` it runs on the server's
running build (the dev build, under ``plugyard dev``): hooks through
``POST /api/plugins/test-event`` for that one installation, routes by sending the
recorded request to ``/ext/<slug>/…`` again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

from ._build import CliError, collect_source_files
from ._client import Connection, connect
from ._local_run import run_call
from .manifest import MANIFEST_FILENAMES, parse_manifest
from .problems import PackageInvalid

__all__ = ["side_by_side"]


def _outcome_lines(outcome: dict[str, Any]) -> list[str]:
    lines = [f"status: {outcome.get('status')}"]
    if outcome.get("duration_ms") is not None:
        lines.append(f"duration: {outcome['duration_ms']:.0f} ms")
    result = outcome.get("result")
    lines += ["result:", *json.dumps(result, indent=2, default=str, ensure_ascii=False).splitlines()]
    if outcome.get("error"):
        lines += ["error:", *str(outcome["error"]).splitlines()[:8]]
    if outcome.get("logs"):
        lines += ["logs:", *(f"  {line}" for line in outcome["logs"])]
    return lines


def side_by_side(left_title: str, left: dict[str, Any], right_title: str, right: dict[str, Any],
                 width: int | None = None) -> str:
    """Two outcomes in two columns; a line that differs is marked ``≠``."""
    total = width or shutil.get_terminal_size((120, 24)).columns
    column = max(30, (total - 3) // 2)

    def wrapped(lines: list[str]) -> list[str]:
        return [part for line in lines for part in (textwrap.wrap(line, column, drop_whitespace=False) or [""])]

    a, b = wrapped(_outcome_lines(left)), wrapped(_outcome_lines(right))
    rows = [f"{left_title:<{column}}   {right_title}", f"{'-' * column}   {'-' * column}"]
    for index in range(max(len(a), len(b))):
        x, y = (a[index] if index < len(a) else ""), (b[index] if index < len(b) else "")
        rows.append(f"{x:<{column}} {'≠' if x != y else ' '} {y}")
    return "\n".join(rows)


def _local(directory: Path, replay: dict[str, Any]) -> dict[str, Any]:
    files = collect_source_files(directory)
    entry = "main.py"
    for name in MANIFEST_FILENAMES:
        if name in files:
            try:
                entry = parse_manifest(name, files[name]).entry or entry
            except PackageInvalid as exc:
                raise CliError(f"{name} is invalid ({exc}); run plugyard validate") from None
            break
    recorded = replay.get("input") or {}
    call = {"kind": replay["kind"], "name": replay.get("name"), "handler": replay.get("handler"),
            "payload": recorded.get("payload"), "request": recorded.get("request")}
    return run_call(files, entry, call)


def _on_server(conn: Connection, replay: dict[str, Any]) -> dict[str, Any]:
    recorded = replay.get("input") or {}
    if replay["kind"] == "hook":
        _, answer = conn.call("POST", "/api/plugins/test-event", {
            "event_type": replay["event_type"], "event_data": recorded.get("payload"),
            "installation": replay["installation"]}, what="the test event")
        runs = [h for h in answer.get("handlers") or [] if h.get("handler") == replay.get("handler")]
        if not runs:
            raise CliError(f"the server's build has no handler {replay.get('handler')!r} for {replay['event_type']!r} now")
        return runs[0]
    if replay["kind"] == "route":
        request = recorded.get("request") or {}
        query = "&".join(f"{k}={v}" for k, v in (request.get("query") or {}).items() if isinstance(v, str))
        path = f"/ext/{replay['plugin']}{request.get('path') or replay.get('name') or '/'}" + (f"?{query}" if query else "")
        body = (request.get("body") or "").encode() if request.get("body_encoding") == "text" else None
        headers = {**conn.headers, **({"Content-Type": request["content_type"]} if request.get("content_type") else {})}
        status, answer = conn.server.call(request.get("method") or "GET", path, headers, body or None)
        return {"status": "ok" if status < 400 else "error", "result": {"status": status, "body": answer}}
    raise CliError(f"a {replay['kind']} call can be replayed locally only (drop --server)")


def _replays(conn: Connection, ident: int, event: bool, installation: int | None) -> list[dict[str, Any]]:
    if not event:
        _, replay = conn.call("GET", f"/api/invocations/{ident}/replay", what="the recorded call")
        return [replay]
    _, detail = conn.call("GET", f"/api/events/{ident}", what="the event")
    chosen = [h for h in detail.get("handlers") or [] if installation in (None, h.get("installation"))]
    if not chosen:
        whose = f"installation {installation}" if installation else "yours"
        raise CliError(f"no handler of {whose} ran for event {ident}")
    return [conn.call("GET", f"/api/invocations/{h['id']}/replay", what="the recorded call")[1] for h in chosen]


def _cmd_replay(args: argparse.Namespace) -> int:
    conn = connect(args.timeout, "fetch the recorded call")
    raw = str(args.id)
    event = args.event or raw.startswith(("event:", "e:"))
    try:
        ident = int(raw.rpartition(":")[2])
    except ValueError:
        raise CliError(f"{raw!r} is not an invocation id (or event:<id>)", 2) from None
    failed = False
    for replay in _replays(conn, ident, event, args.installation):
        title = f"#{replay['invocation']} {replay['kind']} {replay.get('name')} ({replay.get('handler')})"
        if not replay.get("replayable"):
            print(f"{title}: cannot replay: {replay.get('reason')}")
            failed = True
            continue
        print(title)
        print("input (secret and personal values redacted):")
        print(textwrap.indent(json.dumps(replay.get("input"), indent=2, default=str, ensure_ascii=False), "  "))
        new = _on_server(conn, replay) if args.server else _local(Path(args.path), replay)
        where = "now, on the server" if args.server else "now, local code"
        print(side_by_side("recorded", replay.get("outcome") or {}, where, new))
        failed = failed or new.get("status") != "ok"
    return 1 if failed else 0


def add_command(commands: Any) -> None:
    replay = commands.add_parser("replay", help="run a recorded invocation (or event:<id>) again; old and new side by side")
    replay.add_argument("id", metavar="ID", help="an invocation id (plugyard logs shows #id), or event:<id>")
    replay.add_argument("path", nargs="?", default=".", metavar="DIR", help="the plugin folder (local runs)")
    replay.add_argument("--event", action="store_true", help="ID is an event: replay each of its handlers")
    replay.add_argument("--installation", type=int, help="with an event: only this installation's handlers")
    replay.add_argument("--server", action="store_true", help="run it on the server's build (the dev build) instead")
    replay.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server")
    replay.set_defaults(run=_cmd_replay)
