"""Sandbox tests: no Django needed (they also run with `-p no:django`).

A session-wide supervisor is shared by the tests (like the web process shares one); the
terminal summary states which isolation layers this run actually had.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_SDK = Path(__file__).resolve().parents[2] / "sdk"
try:
    import plugyard_sdk  # noqa: F401
except ImportError:  # the SDK not pip-installed yet: use the repo copy
    sys.path.insert(0, str(_SDK))

from ops_center_sdk.pytest_plugin import mock_api, mock_storage, plugin  # noqa: E402,F401  (the guide's fixtures)

from plugins_core.sandbox import Invocation, SandboxPolicy, Supervisor  # noqa: E402

_SUPERVISOR: Supervisor | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_bwrap: needs bubblewrap namespaces (skipped where missing)")
    config.addinivalue_line("markers", "needs_seccomp: needs a seccomp filter (skipped where missing)")


@pytest.fixture(autouse=True)
def _isolated_storage() -> None:
    """Override the suite-wide fixture of the same name: these tests need no Django settings."""


def _shared() -> Supervisor:
    global _SUPERVISOR
    if _SUPERVISOR is None:
        _SUPERVISOR = Supervisor(SandboxPolicy(hook_timeout_s=3.0, job_timeout_s=5.0, max_zygotes=64))
    return _SUPERVISOR


@pytest.fixture(scope="session")
def supervisor() -> Any:
    sup = _shared()
    yield sup
    sup.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any("tests/sandbox" in str(i.fspath) for i in items):
        return
    layers = _shared().layers()
    for item in items:
        if item.get_closest_marker("needs_bwrap") and not layers["namespaces"]:
            item.add_marker(pytest.mark.skip(reason="bubblewrap namespaces unavailable on this machine"))
        if item.get_closest_marker("needs_seccomp") and not layers["seccomp"]:
            item.add_marker(pytest.mark.skip(reason="seccomp (libseccomp/pyseccomp) unavailable on this machine"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SUPERVISOR is None:
        return
    on = [k for k, v in _SUPERVISOR.layers().items() if v]
    off = [k for k, v in _SUPERVISOR.layers().items() if not v]
    terminalreporter.write_sep("-", "plugyard sandbox layers")
    terminalreporter.write_line(f"active: {', '.join(on)}" + (f"; MISSING: {', '.join(off)}" if off else ""))
    for name, note in _SUPERVISOR.layer_notes().items():
        terminalreporter.write_line(f"  {name}: {note}")


def make_plugin(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


_counter = [0]


def call(sup: Supervisor, plugin_dir: Path, kind: str, name: str, payload: Any = None, *, bridge: Any = None,
         installation: str = "inst-1", version: str | None = None, context: dict[str, Any] | None = None,
         timeout: float | None = None, entry: str = "main.py", handler: str | None = None) -> Any:
    ctx = {"tenant_id": "tenant-1", "user_id": "user-1", "installation_id": installation, **(context or {})}
    return sup.invoke(Invocation(version or str(plugin_dir), plugin_dir, entry, installation, kind, name, payload,
                                 timeout=timeout, context=ctx, handler=handler), bridge)
