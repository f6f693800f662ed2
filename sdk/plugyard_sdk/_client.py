"""The Plugyard API as the CLI speaks it: one client, one way to find the server and tenant.

The base URL is ``OPS_CENTER_API_URL`` (or ``PLUGYARD_URL``), the token
``OPS_CENTER_API_KEY`` (or ``PLUGYARD_TOKEN``), the tenant ``PLUGYARD_TENANT`` or the
token's own (``GET /api/me``). Every command that talks to a server (``publish``, ``dev``,
``logs``, ``replay``) connects through :func:`connect`; errors are `CliError` sentences,
the server's refusals ``field: message [code]`` lines, and the key is never echoed.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any

from ._build import CliError

__all__ = ["Connection", "connect"]


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


class Connection:
    """A server, its tenant header, and JSON calls on them (what ``dev``, ``logs`` and ``replay`` use)."""

    def __init__(self, server: _Server, tenant: str | None) -> None:
        self.server, self.tenant = server, tenant
        self.headers = {"X-Tenant-Slug": tenant} if tenant else {}

    @property
    def base(self) -> str:
        return self.server.base

    def call(self, method: str, path: str, body: Any = None, *, what: str = "the request",
             ok: tuple[int, ...] = ()) -> tuple[int, Any]:
        """``method path`` with a JSON ``body``; a 4xx/5xx not in ``ok`` prints the refusal and raises."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        status, answer = self.server.call(method, path, headers, data)
        if status >= 400 and status not in ok:
            _refused(what, status, answer)
            raise CliError(f"{what} failed (HTTP {status})")
        return status, answer

    def upload(self, path: str, name: str, data: bytes) -> tuple[int, Any]:
        """POST an archive as the multipart field ``file`` (an upload, a dev build)."""
        body, content_type = _multipart("file", name, data)
        return self.server.call("POST", path, {**self.headers, "Content-Type": content_type}, body)


def connect(timeout: float, action: str = "talk to a server", *, base: str | None = None) -> Connection:
    """The server and tenant from the environment, as ``publish`` finds them (``base``: a ``--server``)."""
    raw_base, url_var = (base, "--server") if base else _env(*_URL_VARS)
    key, _ = _env(*_KEY_VARS)
    if not raw_base or not key:
        raise CliError(
            f"set {_URL_VARS[0]} and {_KEY_VARS[0]} (or {_URL_VARS[1]} and {_KEY_VARS[1]}) to {action}", 2
        )
    server = _Server(_api_base(raw_base, url_var), key, url_var, timeout)
    return Connection(server, _tenant_for(server))
