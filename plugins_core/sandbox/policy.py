"""Sandbox limits and allowlists as plain values.

The sandbox never reads Django: the host turns `settings.PLUGYARD_SANDBOX` into a policy
(`plugins_core/sandboxes.py`, through `SandboxPolicy.from_mapping`). Without one, the
defaults apply. `PLUGYARD_SANDBOX_STRICT=true` in the environment turns `strict` on:
plugin code is refused when any isolation layer is missing.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_IMPORT_ALLOWLIST", "SDK_RUNTIME_MODULES", "SandboxPolicy"]


def _default_allowlist() -> frozenset[str]:
    """One list for the upload scan and the runtime guard: the SDK's, if importable."""
    try:
        from plugyard_sdk.package import SANDBOX_IMPORT_ALLOWLIST

        return frozenset(SANDBOX_IMPORT_ALLOWLIST)
    except Exception:  # the SDK host modules are optional for the sandbox itself
        return frozenset({
            "json", "datetime", "time", "uuid", "hashlib", "hmac", "base64", "urllib.parse", "collections",
            "itertools", "functools", "re", "math", "random", "string", "__future__", "typing",
            "dataclasses", "enum", "decimal", "fractions", "statistics", "copy", "abc", "textwrap",
            "html", "operator", "numbers", "asyncio", "contextlib", "src.ext.sdk", "ops_center_sdk",
            "plugyard_sdk",
        })


DEFAULT_IMPORT_ALLOWLIST = _default_allowlist()

# Modules of the SDK that exist inside the jail (the rest of `plugyard_sdk` is host-only).
SDK_RUNTIME_MODULES = (
    "plugyard_sdk", "plugyard_sdk.ctx_methods", "plugyard_sdk._local", "plugyard_sdk.plugin_builtins",
    "plugyard_sdk.context", "plugyard_sdk.routing", "plugyard_sdk.sbh", "plugyard_sdk.plugin",
    "plugyard_sdk._collect", "plugyard_sdk.signing", "ops_center_sdk", "src", "src.ext", "src.ext.sdk",
)


_ALIASES = {"max_warm_workers": "max_workers", "max_warm_zygotes": "max_zygotes"}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SandboxPolicy:
    strict: bool = False
    use_bwrap: bool | None = None  # None: use when available
    use_seccomp: bool | None = None
    bwrap_path: str = "/usr/bin/bwrap"
    python: str = field(default_factory=lambda: os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    hook_timeout_s: float = 5.0  # hooks, routes, filters, transforms, lifecycle, tasks
    job_timeout_s: float = 30.0
    load_timeout_s: float = 10.0  # starting a zygote, inspecting a plugin
    memory_mb: int = 100  # RLIMIT_AS of a worker
    zygote_memory_mb: int = 256  # RLIMIT_AS of a zygote, set before it compiles the plugin
    cpu_seconds: int = 120  # RLIMIT_CPU of a worker over its life; recycled at half
    max_open_files: int = 64
    max_log_lines: int = 200
    max_log_bytes: int = 64_000
    max_frame_bytes: int = 4 * 1024 * 1024
    max_rpc_calls: int = 1000  # per invocation
    max_zygotes: int = 32  # LRU: plugin versions kept warm
    max_workers: int = 256  # LRU: installations kept warm
    worker_max_calls: int = 100_000  # recycle a worker after this many calls
    # The sandbox service (one per machine) and how callers reach it.
    socket_path: str = ""  # empty: PLUGYARD_SANDBOX_SOCKET, else var/sandbox.sock beside manage.py
    tenant_concurrency: int = 4  # calls one tenant may have running at once on this machine
    installation_concurrency: int = 1  # calls one installation may have running (one warm worker)
    route_queue_s: float = 1.0  # how long a route over budget waits (idle) before answering 429
    caller_margin_s: float = 1.0  # a caller waits at most its deadline plus this
    import_allowlist: frozenset[str] = DEFAULT_IMPORT_ALLOWLIST

    def timeout_for(self, kind: str) -> float:
        return self.job_timeout_s if kind == "job" else self.hook_timeout_s

    def with_overrides(self, **overrides: Any) -> SandboxPolicy:
        for alias, name in _ALIASES.items():
            if alias in overrides:
                overrides[name] = overrides.pop(alias)
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown PLUGYARD_SANDBOX setting(s): {', '.join(sorted(unknown))}")
        if "import_allowlist" in overrides:
            overrides["import_allowlist"] = frozenset(overrides["import_allowlist"])
        return dataclasses.replace(self, **overrides)

    @classmethod
    def from_env(cls, base: SandboxPolicy | None = None) -> SandboxPolicy:
        policy = base or cls()
        if _truthy(os.environ.get("PLUGYARD_SANDBOX_STRICT")):
            policy = dataclasses.replace(policy, strict=True)
        return policy

    @classmethod
    def from_mapping(cls, overrides: dict[str, Any]) -> SandboxPolicy:
        """Defaults, then ``overrides`` (a settings dict), then the environment."""
        return cls.from_env(cls().with_overrides(**dict(overrides)))

    def worker_rlimits(self) -> dict[str, int]:
        return {"as": self.memory_mb * 1024 * 1024, "cpu": self.cpu_seconds, "nproc": 0, "fsize": 0,
                "nofile": self.max_open_files, "core": 0, "memlock": 0}

    def zygote_rlimits(self) -> dict[str, int]:
        return {"as": self.zygote_memory_mb * 1024 * 1024, "fsize": 0, "core": 0,
                "nofile": max(self.max_open_files, 256)}

    def for_worker(self) -> dict[str, Any]:
        """The part of the policy the jail needs (plain JSON)."""
        return {"max_log_lines": self.max_log_lines, "max_log_bytes": self.max_log_bytes,
                "max_frame_bytes": self.max_frame_bytes, "strict": self.strict}
