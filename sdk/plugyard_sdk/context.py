"""The SBH `PluginContext` and the host services it fronts.

Every service is a thin client of one *backend* (`call(method, args) -> value`); the
methods and their arguments are the rows of `plugyard_sdk.ctx_methods.CTX_METHODS`. Inside
the sandbox the worker installs a backend that forwards each call over the pipe to the host,
which checks the installation's permissions and budgets. Outside the sandbox (local testing,
as the SBH guide's "Local Testing" shows) the default is `plugyard_sdk._local.LocalBackend`,
an in-memory host that records every call (the test kit re-exports it). Standard library
only: this module is imported inside the sandbox.
"""

from __future__ import annotations

import base64
import json as _json
from typing import Any, Protocol

from ._local import LocalBackend
from .ctx_methods import HostError

__all__ = [
    "Backend",
    "Db",
    "Files",
    "HostError",
    "Http",
    "HttpResponse",
    "Llm",
    "PluginContext",
    "Request",
    "Secrets",
    "current_backend",
]


class Backend(Protocol):
    """Where ctx calls go: the host over RPC in the sandbox, an in-memory fake outside it."""

    def call(self, method: str, args: dict[str, Any]) -> Any: ...


class _Runtime:
    """Process-wide binding: which backend ctx uses and where log lines go.

    The sandbox worker sets both once per worker (one worker serves one installation), so
    a module-level binding is exactly as wide as it needs to be.
    """

    def __init__(self) -> None:
        self.backend: Backend | None = None
        self.log_sink: Any = None  # callable(level, message) or None
        self.in_sandbox = False
        self.config: dict[str, Any] = {}
        #: The installed version's manifest version (the worker sets it for each call), which
        #: `plugin.metadata.version` reports whatever the code's `Plugin(version=...)` says.
        self.plugin_version: str | None = None

    def log(self, level: str, message: str) -> bool:
        if self.log_sink is None:
            return False
        self.log_sink(level, message)
        return True


_runtime = _Runtime()


def current_backend() -> Backend:
    """The bound backend, or a fresh in-memory host when nothing is bound (local testing)."""
    if _runtime.backend is None:
        _runtime.backend = LocalBackend()
    return _runtime.backend


class _Service:
    def __init__(self, backend: Backend | None) -> None:
        self._backend = backend

    def _call(self, rpc_method: str, /, **args: Any) -> Any:
        backend = self._backend if self._backend is not None else current_backend()
        return backend.call(rpc_method, args)


class Secrets(_Service):
    """Per-installation secrets (`ctx.secrets.get("API_KEY")`)."""

    def get(self, name: str, default: Any = None) -> Any:
        value = self._call("secrets.get", name=name)
        return default if value is None else value


class HttpResponse:
    """What `ctx.http.*` returns: the host made the request and hands back its outcome."""

    def __init__(self, status_code: int, headers: dict[str, str] | None = None, text: str = "") -> None:
        self.status_code = int(status_code)
        self.headers = dict(headers or {})
        self.text = text

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 400

    @property
    def content(self) -> bytes:
        return self.text.encode("utf-8")

    def json(self) -> Any:
        return _json.loads(self.text) if self.text else None

    def raise_for_status(self) -> None:
        if not self.ok:
            raise HostError(f"HTTP {self.status_code}")

    def __repr__(self) -> str:
        return f"<HttpResponse [{self.status_code}]>"


class Http(_Service):
    """Outbound HTTP made *by the host* (domain allowlist, no private addresses, limits).

    Outside the sandbox it is a fake that sends nothing: canned answers (``LocalBackend``'s
    ``http_responses``), each with the header ``X-Plugyard-Fake: local``."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        raw = self._call(
            "http.request", method=method.upper(), url=url, headers=headers or {},
            params=params or {}, json=json, data=data, timeout=timeout,
        )
        raw = raw or {}
        return HttpResponse(raw.get("status_code", 0), raw.get("headers"), raw.get("text", ""))

    def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("DELETE", url, **kwargs)


class Db(_Service):
    """Tables the host exposes; `db.read` / `db.write` permissions checked on the host."""

    def query(self, table: str, filters: dict[str, Any] | None = None, *, limit: int | None = None,
              order_by: str | None = None) -> list[dict[str, Any]]:
        return self._call("db.query", table=table, filters=filters or {}, limit=limit, order_by=order_by) or []

    def get_by_id(self, table: str, id: Any) -> dict[str, Any] | None:
        return self._call("db.get_by_id", table=table, id=id)

    def insert(self, table: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._call("db.insert", table=table, data=data)

    def update(self, table: str, id: Any, data: dict[str, Any]) -> dict[str, Any]:
        return self._call("db.update", table=table, id=id, data=data)


class Files(_Service):
    """Tenant file storage. Text travels as text; bytes travel base64-encoded."""

    def list(self, prefix: str = "") -> list[str]:
        return self._call("files.list", prefix=prefix) or []

    def read(self, path: str) -> str | bytes | None:
        raw = self._call("files.read", path=path)
        if isinstance(raw, dict) and "base64" in raw:
            return base64.b64decode(raw["base64"])
        return raw

    def upload(self, path: str, content: str | bytes, content_type: str | None = None) -> Any:
        if isinstance(content, bytes):
            return self._call("files.upload", path=path, base64=base64.b64encode(content).decode(),
                              content_type=content_type)
        return self._call("files.upload", path=path, content=content, content_type=content_type)

    def delete(self, path: str) -> Any:
        return self._call("files.delete", path=path)


class Llm(_Service):
    """LLM orchestration (`llm.use`): the host runs the prompt on the model its operator set
    (``PLUGYARD_LLM_BASE_URL``; without one the call fails). Outside the sandbox it is a fake
    that calls no model: the answer starts with ``[local fake llm: no model was called]``."""

    def run(self, prompt: str, **options: Any) -> Any:
        return self._call("llm.run", prompt=prompt, options=options)


class _Headers(dict):
    """Case-insensitive header lookup, as web frameworks give it."""

    def __init__(self, raw: dict[str, str] | None = None) -> None:
        super().__init__({str(k).lower(): v for k, v in (raw or {}).items()})

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(str(key).lower(), default)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(str(key).lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


class Request:
    """The HTTP request a route handler serves (`ctx.request`)."""

    def __init__(self, method: str = "GET", path: str = "/", query: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, body: str = "", json: Any = None) -> None:
        self.method = method.upper()
        self.path = path
        self.query = dict(query or {})
        self.args = self.query
        self.headers = _Headers(headers)
        self.body = body or ""
        self._json = json

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Request:
        raw = raw or {}
        return cls(raw.get("method", "GET"), raw.get("path", "/"), raw.get("query"), raw.get("headers"),
                   raw.get("body", ""), raw.get("json"))

    @property
    def data(self) -> bytes:
        return self.body.encode("utf-8")

    def get_json(self, silent: bool = False) -> Any:
        if self._json is not None:
            return self._json
        if not self.body:
            return None
        try:
            return _json.loads(self.body)
        except ValueError:
            if silent:
                return None
            raise


class PluginContext:
    """What every SBH handler receives first: the tenant, the user and the host services.

    `PluginContext("test-tenant", "test-user")` works anywhere: without a bound backend
    the services talk to an in-memory host (`plugyard_sdk.testing.LocalBackend`).
    """

    def __init__(self, tenant_id: str = "test-tenant", user_id: str | None = "test-user", *,
                 installation_id: str | None = None, config: dict[str, Any] | None = None,
                 request: Request | dict[str, Any] | None = None, backend: Backend | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        if backend is None and secrets is not None:
            backend = LocalBackend(secrets=secrets)
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.installation_id = installation_id
        self.config = dict(config or {})
        self.request = request if isinstance(request, Request) else Request.from_dict(request)
        self._backend = backend
        self.secrets = Secrets(backend)
        self.http = Http(backend)
        self.db = Db(backend)
        self.files = Files(backend)
        self.llm = Llm(backend)

    @property
    def backend(self) -> Backend:
        """The backend in use (the local fake when testing: inspect `.calls`, `.emitted`)."""
        return self._backend if self._backend is not None else current_backend()

    def emit(self, event_type: str, data: dict[str, Any] | None = None) -> Any:
        """Emit a plugin event (the host refuses names that impersonate catalog events)."""
        return self.backend.call("emit", {"event_type": event_type, "data": data or {}})

    def send_email(self, to: str | list[str], subject: str, body: str, *, html: str | None = None) -> Any:
        return self.backend.call("email.send", {"to": to, "subject": subject, "body": body, "html": html})

    def log(self, message: str, level: str = "info") -> None:
        if not _runtime.log(level, str(message)):
            print(message)

    def __repr__(self) -> str:
        return f"<PluginContext tenant={self.tenant_id!r} user={self.user_id!r}>"
