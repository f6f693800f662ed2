"""``ops-center-plugin`` / ``plugyard``: scaffold, validate, build and publish a plugin.

``validate`` packs the folder exactly as ``build`` does, reads it with the server's own
`read_package`, loads the code locally (`inspect_local`) and runs the server's validator
(`plugyard_sdk.validation.validate`) on the result, against the guides' event catalog: the
same problems and warnings, with the same codes and fields, as an upload. Errors end with
a message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import devloop
from ._build import CliError, _check, build_archive, collect_source_files
from ._client import (
    _KEY_VARS,
    _URL_VARS,
    _api_base,
    _env,
    _multipart,
    _print_warnings,
    _refused,
    _Server,
    _tenant_for,
)
from ._scaffold import scaffold_files
from .templates import TEMPLATES

__all__ = ["CliError", "build_archive", "collect_source_files", "main"]


def _cmd_init(args: argparse.Namespace) -> int:
    slug = args.slug
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{1,63}", slug):
        raise CliError(
            f"{slug!r} is not a valid plugin id: use 2-64 lowercase letters, digits, '-' or '_'", 2
        )
    category = args.category.strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", category):
        raise CliError(f"{args.category!r} is not a valid category", 2)
    target = Path(args.directory or slug)
    if target.exists() and any(target.iterdir()):
        raise CliError(f"{target} already exists and is not empty", 1)
    files = scaffold_files(
        slug,
        name=args.name or slug.replace("-", " ").replace("_", " ").title(),
        description=args.description or "A Plugyard plugin",
        author=args.author or "Your Name",
        category=category,
        plugin_type=args.type,
        style=args.style,
        template=args.template,
    )
    for path, text in files.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_text(text, encoding="utf-8")
    kind = f"{args.template} " if args.template else ""
    print(f"Created {args.style} {kind}plugin {slug!r} in {target}/")
    print(f"Next: cd {target} && ops-center-plugin validate")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.is_file():
        _check(path.read_bytes(), path.name, sys.stdout)
    else:
        data, name = build_archive(path)
        _check(data, name, sys.stdout)
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    directory = Path(args.path)
    data, name = build_archive(directory)
    _check(data, name, sys.stdout)
    out_dir = Path(args.out) if args.out else directory / "dist"
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    (out_dir / name).write_bytes(data)
    (out_dir / f"{name}.sha256").write_text(f"{digest}  {name}\n", encoding="utf-8")
    print(f"Built {out_dir / name}")
    print(f"sha256 {digest}")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    raw_base, url_var = _env(*_URL_VARS)
    key, _ = _env(*_KEY_VARS)
    if not raw_base or not key:
        raise CliError(
            f"set {_URL_VARS[0]} and {_KEY_VARS[0]} (or {_URL_VARS[1]} and {_KEY_VARS[1]}) to publish", 2
        )
    server = _Server(_api_base(raw_base, url_var), key, url_var, args.timeout)
    if args.file:
        path = Path(args.file)
        data, name = path.read_bytes(), path.name
    else:
        data, name = build_archive(Path(args.path))
    # Shape and scan only: the event catalog is the server's (it may hold events the host
    # registered), so its rules are its answer, printed below.
    _check(data, name, sys.stdout, load=False)
    headers: dict[str, str] = {}
    tenant = _tenant_for(server)
    if tenant:
        headers["X-Tenant-Slug"] = tenant
    body, content_type = _multipart("file", name, data)
    status, answer = server.call(
        "POST", "/api/plugins/upload", {**headers, "Content-Type": content_type}, body
    )
    if status >= 400:
        return _refused("the upload", status, answer)
    summary = answer if isinstance(answer, dict) else {}
    ident = summary.get("id", "?")
    where = f" for tenant {tenant}" if tenant else ""
    print(f"Published {name} to {server.base}{where} (HTTP {status}, id {ident})")
    _print_warnings(answer)
    if not args.submit:
        return 0
    status, answer = server.call("POST", f"/api/plugins/{ident}/submit", headers, b"")
    if status >= 400:
        return _refused("the review request", status, answer)
    listing = (answer.get("listing") if isinstance(answer, dict) else None) or {}
    print(
        f"Submitted for review: listing {listing.get('status', '?')}"
        f" (version {listing.get('version', '?')})"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ops-center-plugin", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="create a new plugin folder")
    init.add_argument("slug", metavar="NAME", help="the plugin id, also the folder name")
    init.add_argument("--name", help="display name")
    init.add_argument("--description", help="one-sentence description")
    init.add_argument("--author", help="author name")
    init.add_argument(
        "--category", default="integration", help="monitoring, ai, security, integration, analytics"
    )
    init.add_argument(
        "--type", default="backend", choices=["backend", "frontend", "hybrid", "container"]
    )
    init.add_argument(
        "--style",
        default="ops-center",
        choices=["ops-center", "sbh"],
        help="plugin.yaml + Plugin object, or plugin.json + decorators",
    )
    init.add_argument(
        "--template",
        choices=TEMPLATES,
        help="start from a template (default: one plugin with a hook, a route and a job)",
    )
    init.add_argument("--directory", help="where to create it (default: ./NAME)")
    init.set_defaults(run=_cmd_init)
    validate = commands.add_parser(
        "validate", help="check a plugin folder (or archive) as the server would"
    )
    validate.add_argument("path", nargs="?", default=".", metavar="DIR")
    validate.set_defaults(run=_cmd_validate)
    build = commands.add_parser("build", help="write dist/<id>-<version>.tar.gz and its .sha256")
    build.add_argument("path", nargs="?", default=".", metavar="DIR")
    build.add_argument("--out", help="output folder (default: DIR/dist)")
    build.set_defaults(run=_cmd_build)
    publish = commands.add_parser(
        "publish",
        help="upload to OPS_CENTER_API_URL with OPS_CENTER_API_KEY (tenant: the token's, or PLUGYARD_TENANT)",
    )
    publish.add_argument("path", nargs="?", default=".", metavar="DIR")
    publish.add_argument("--file", help="upload this archive instead of building DIR")
    publish.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the server"
    )
    publish.add_argument(
        "--submit", action="store_true", help="then ask the marketplace's staff to review it"
    )
    publish.set_defaults(run=_cmd_publish)
    devloop.add_commands(commands)  # dev, logs, replay, test
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed, 2 bad usage)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or bad usage (argparse has printed why)
        return int(exc.code or 0)
    try:
        return int(args.run(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the promise is a message, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
