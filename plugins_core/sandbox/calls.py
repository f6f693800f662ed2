"""What goes into the sandbox and what comes out: `Invocation`, `InvocationResult`, `LoadReport`.

Results are objects, never exceptions: a timeout, a crash or a plugin error is an outcome
the caller records (status, duration, memory, logs), and the host carries on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Invocation", "InvocationResult", "Kind", "LoadReport", "Status"]

Kind = Literal["hook", "filter", "route", "job", "lifecycle", "transform", "task"]
# "busy": refused before running, over the tenant's concurrency budget (a route answers 429);
# "unavailable": the sandbox service could not be reached, so nothing ran.
Status = Literal["ok", "error", "timeout", "memory", "crash", "busy", "unavailable"]


@dataclass(frozen=True)
class Invocation:
    """One call into plugin code.

    - `version_key`: one zygote per key (e.g. "<slug>@<version>:<sha256>").
    - `installation_key`: one warm worker per key; state never crosses keys.
    - `name`: hook → event; filter → filter name; route → request path relative to the
      plugin mount ("/users/42", method in `context["request"]["method"]`); job → job name;
      lifecycle → "install" | "enable" | "disable" | "uninstall"; transform →
      "transforms/file.py#function"; task → module-level function name.
    - `handler`: optionally restrict a hook/filter to one handler by function name.
    - `context`: tenant_id, user_id, installation_id, config, request (method, path,
      query, headers, body, json).
    """

    version_key: str
    plugin_dir: str | Path
    entry: str
    installation_key: str
    kind: Kind
    name: str
    payload: Any = None
    timeout: float | None = None
    context: dict[str, Any] = field(default_factory=dict)
    handler: str | None = None


@dataclass
class InvocationResult:
    status: Status
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None  # plugin frames only
    location: dict[str, Any] | None = None  # {"file": "main.py", "line": 12}
    logs: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    peak_rss_kb: int = 0
    rpc_calls: int = 0
    audit: list[str] = field(default_factory=list)  # tripwire events, if any

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def ran(self) -> bool:
        """False when the plugin never started: over budget, or no sandbox service."""
        return self.status not in ("busy", "unavailable")


@dataclass
class LoadReport:
    """What a plugin registered when loaded in the sandbox (compared to its manifest)."""

    ok: bool
    style: str | None = None  # "sbh" | "ops-center" | "mixed"
    plugin: dict[str, Any] | None = None  # Ops-Center Plugin(...) metadata
    hooks: list[dict[str, Any]] = field(default_factory=list)  # event, handler, priority, kind
    routes: list[dict[str, Any]] = field(default_factory=list)  # path, methods, handler
    jobs: list[dict[str, Any]] = field(default_factory=list)  # name, schedule, handler
    lifecycle: dict[str, list[str]] = field(default_factory=dict)  # stage -> handler names
    functions: list[str] = field(default_factory=list)  # module-level functions (scheduler handlers)
    tasks: list[dict[str, Any]] = field(default_factory=list)  # scheduler calls seen at load/install/enable
    errors: list[dict[str, Any]] = field(default_factory=list)  # {message, type, file, line}
    warnings: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
