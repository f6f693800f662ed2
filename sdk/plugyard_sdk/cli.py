"""``ops-center-plugin`` / ``plugyard``: scaffold, validate, build and publish a plugin.

``validate`` packs the folder exactly as ``build`` does, reads it with the server's own
`read_package`, loads the code locally (`inspect_local`) and runs the server's validator
(`plugyard_sdk.validation.validate`) on the result, against the guides' event catalog: the
same problems and warnings, with the same codes and fields, as an upload. Errors end with
a message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import validation
from ._scaffold import scaffold_files
from .manifest import MANIFEST_FILENAMES, parse_manifest
from .package import PackageLimits, PluginPackage, read_package
from .problems import PackageInvalid, Problem

__all__ = ["CliError", "build_archive", "collect_source_files", "main"]

# Fixed mtime (1980-01-01, the zip epoch) so the same sources always build the same bytes.
_MTIME = 315532800
_SKIP_DIRS = frozenset({"dist", "build", "tests", "__pycache__", "node_modules", "venv"})
_SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info")


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def collect_source_files(directory: Path) -> dict[str, bytes]:
    """The files a build ships: not hidden files, caches, tests, requirements or build output."""
    if not directory.is_dir():
        raise CliError(f"{directory} is not a folder")
    files: dict[str, bytes] = {}
    for root, dirs, names in os.walk(directory, followlinks=False):
        here = Path(root)
        for name in list(dirs):
            if (here / name).is_symlink():
                raise CliError(f"{here / name} is a symbolic link; plugins cannot contain links")
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and not d.endswith(_SKIP_SUFFIXES)
            and not (here == directory and d in _SKIP_DIRS)
            and d != "__pycache__"
        )
        for name in sorted(names):
            path = here / name
            if name.startswith(".") or name.endswith(_SKIP_SUFFIXES):
                continue
            if here == directory and (
                name == "conftest.py" or re.fullmatch(r"requirements.*\.txt", name)
            ):
                continue  # development-only files: tests' setup, pip requirements
            if path.is_symlink():
                raise CliError(f"{path} is a symbolic link; plugins cannot contain links")
            if path.is_file():
                files[path.relative_to(directory).as_posix()] = path.read_bytes()
    return files


def _identity(files: dict[str, bytes], fallback: str) -> tuple[str, str]:
    for name in MANIFEST_FILENAMES:
        if name in files:
            try:
                manifest = parse_manifest(name, files[name])
            except PackageInvalid:
                break
            return manifest.slug, manifest.version
    return fallback, "0.0.0"


def build_archive(directory: Path) -> tuple[bytes, str]:
    """A deterministic ``<slug>-<version>.tar.gz`` of the folder: ``(bytes, file name)``.

    Entries are sorted, owned by root with fixed mtimes and modes, under one folder
    ``<slug>-<version>/``.
    """
    files = collect_source_files(directory)
    slug, version = _identity(files, directory.resolve().name or "plugin")
    stem = f"{slug}-{version}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(files):
            info = tarfile.TarInfo(f"{stem}/{path}")
            info.size, info.mtime, info.mode = len(files[path]), _MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(files[path]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as stream:
        stream.write(raw.getvalue())
    return out.getvalue(), f"{stem}.tar.gz"


def _report(
    package: PluginPackage | None,
    problems: list[Problem],
    label: str,
    out: TextIO,
    warnings: list[Problem] | None = None,
) -> None:
    shown = warnings if warnings is not None else (package.warnings if package is not None else [])
    for warning in shown:
        print(f"  warning: {warning}", file=out)
    if package is not None:
        m = package.manifest
        print(f"OK: {m.slug} {m.version} is valid ({len(package.files)} files)", file=out)
        if m.secrets:
            # An installation cannot be enabled until each is set, so say so before upload.
            names = ", ".join(s.name for s in m.secrets)
            print(f"  needs secrets (set them before enabling): {names}", file=out)
        return
    print(f"{label}: {len(problems)} problem{'s' * (len(problems) != 1)}", file=out)
    for problem in problems:
        print(f"  {problem}", file=out)


def _check(data: bytes, name: str, out: TextIO, *, load: bool = True) -> PluginPackage:
    """Validate as an upload would; ``load=False`` stops after `read_package` (shape, scan)."""
    if load:
        package, findings = validation.validate_archive(data, name)
    else:
        try:
            package = read_package(data, name, PackageLimits())
            findings = validation.Findings([], list(package.warnings))
        except PackageInvalid as exc:
            package, findings = None, validation.Findings(list(exc.problems))
    if package is None or findings.problems:
        _report(None, findings.problems, f"{name} is invalid", out, findings.warnings)
        raise CliError("validation failed", 1)
    _report(package, [], name, out, findings.warnings)
    return package


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
    )
    for path, text in files.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_text(text, encoding="utf-8")
    print(f"Created {args.style} plugin {slug!r} in {target}/")
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


def _multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = f"plugyard-{uuid.uuid4().hex}"
    kind = "application/zip" if data[:2] == b"PK" else "application/gzip"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
    ).encode()
    return (
        head + data + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def _detail_line(item: Any) -> str:
    """One server detail as ``field: message [code]``, whatever keys it carries."""
    if isinstance(item, dict) and "message" in item:
        field, code = item.get("field"), item.get("code")
        text = f"{field}: {item['message']}" if field else str(item["message"])
        return f"{text} [{code}]" if code else text
    if isinstance(item, dict):
        return "; ".join(f"{key}: {_detail_line(value)}" for key, value in item.items())
    if isinstance(item, list):
        return "; ".join(_detail_line(value) for value in item)
    return str(item)


def _server_errors(body: Any) -> list[str]:
    """Readable ``field: message [code]`` lines from whatever error shape the server answered."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        # Plugyard's envelope: {"error": {"code", "message", "details": [{field, code, message}]}}
        error = body["error"]
        lines = [f"{error.get('message') or 'error'} [{error.get('code') or '?'}]"]
        lines += [_detail_line(item) for item in error.get("details") or []]
        return lines
    if isinstance(body, dict):
        items = body.get("problems") or body.get("errors")
        if isinstance(items, list):
            return [_detail_line(item) for item in items]
        lines = [str(body["detail"])] if "detail" in body else []
        for key, value in body.items():
            if key not in ("detail", "code", "status"):
                for text in value if isinstance(value, list) else [value]:
                    lines.append(f"{key}: {_detail_line(text)}")
        return lines or [json.dumps(body)]
    if isinstance(body, list):
        return [_detail_line(item) for item in body]
    return [str(body)]


def _env(*names: str) -> tuple[str, str]:
    """The first of ``names`` set in the environment: ``(value, name)``; ``("", names[0])`` if none."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value, name
    return "", names[0]


class _Server:
    """The Plugyard API at ``base`` for one token: JSON in and out, the key never echoed."""

    def __init__(self, base: str, key: str, url_var: str, timeout: float) -> None:
        self.base, self.key, self.url_var, self.timeout = base, key, url_var, timeout

    def call(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, Any]:
        url = f"{self.base}{path}"
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json", **headers}
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, kind = response.status, response.headers.get("Content-Type", "")
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, kind = exc.code, exc.headers.get("Content-Type", "") if exc.headers else ""
            text = exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"could not reach {self.base} ({self.url_var}): {reason}") from None
        text = text.replace(self.key, "***")  # never echo the key, even if the server does
        try:
            return status, (json.loads(text) if text else {})
        except ValueError:
            pass
        if "html" in kind or text.lstrip()[:1] == "<":
            # A wrong base URL (one ending in /api, a proxy's page, another site) answers HTML.
            raise CliError(
                f"{url} answered HTTP {status} with a web page, not the Plugyard API: set "
                f"{self.url_var} to the server's address, e.g. http://127.0.0.1:8000 (no /api)"
            )
        return status, text[:2000]


def _api_base(raw: str, name: str) -> str:
    base = raw.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise CliError(f"{name} must start with http:// or https://, not {base!r}", 2)
    if base.endswith("/api"):
        raise CliError(
            f"{name} is the server's address, without /api: use {base[: -len('/api')]!r}", 2
        )
    return base


def _tenant_for(server: _Server) -> str | None:
    """``PLUGYARD_TENANT`` if set, else the token's own tenant (``GET /api/me``)."""
    tenant = os.environ.get("PLUGYARD_TENANT", "").strip()
    if tenant:
        return tenant
    status, answer = server.call("GET", "/api/me", {})
    if status == 200 and isinstance(answer, dict) and answer.get("tenant"):
        return str(answer["tenant"])
    if status in (401, 403):
        _refused("the token", status, answer)
        raise CliError(f"check {_KEY_VARS[0]} (or {_KEY_VARS[1]})")
    return None  # a server without /api/me: the upload's answer will say what it needs


def _refused(what: str, status: int, answer: Any) -> int:
    print(f"The server refused {what} (HTTP {status}):", file=sys.stderr)
    lines = _server_errors(answer)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    if status in (400, 401, 403) and any("tenant" in line.lower() for line in lines):
        print(
            "  hint: set PLUGYARD_TENANT to the slug of the tenant the token belongs to"
            " (GET /api/me names it)",
            file=sys.stderr,
        )
    return 1


def _print_warnings(answer: Any) -> None:
    warnings = answer.get("warnings") if isinstance(answer, dict) else None
    for warning in warnings or []:
        print(f"  warning: {_detail_line(warning)}")


_URL_VARS = ("OPS_CENTER_API_URL", "PLUGYARD_URL")
_KEY_VARS = ("OPS_CENTER_API_KEY", "PLUGYARD_TOKEN")


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
