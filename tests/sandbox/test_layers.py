"""Controls for the attack corpus: with the layer that stops an attack switched off, it escapes.

`test_attacks.py` shows every attack contained with every layer on. That alone could not
tell a real barrier from an attack that never worked; here each attack below runs once
more on a supervisor without the one layer its file says it relies on, and must escape.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plugins_core.sandbox import SandboxPolicy, Supervisor
from plugins_core.sandbox.policy import DEFAULT_IMPORT_ALLOWLIST

from .conftest import call, make_plugin
from .test_attacks import ATTACKS, PING

CONTROLS = [
    # no jail: the host's /etc/passwd is there to read
    pytest.param("a16_read_etc_passwd_real_open", {"use_bwrap": False}, marks=pytest.mark.needs_bwrap,
                 id="namespaces"),
    # no seccomp filter: prctl and friends answer 0
    pytest.param("a34_ctypes_syscalls", {"use_seccomp": False}, marks=pytest.mark.needs_seccomp, id="seccomp"),
    # no seccomp filter: calls on neither list (setpriority, sched_setaffinity, F_SETOWN) run
    pytest.param("a38_unlisted_syscall", {"use_seccomp": False}, marks=pytest.mark.needs_seccomp,
                 id="seccomp-allowlist"),
    # `os` on the allowlist: the worker's already-imported module is handed out
    pytest.param("a05_dunder_import_already_loaded", {"import_allowlist": DEFAULT_IMPORT_ALLOWLIST | {"os"}},
                 id="import_allowlist"),
]


@pytest.mark.parametrize(("attack", "without"), CONTROLS)
def test_the_attack_escapes_without_the_layer_that_stops_it(monkeypatch, tmp_path: Path, attack: str,
                                                            without: dict) -> None:
    monkeypatch.delenv("PLUGYARD_SANDBOX_STRICT", raising=False)  # strict mode would refuse to run at all
    weaker = Supervisor(SandboxPolicy(hook_timeout_s=3.0, **without))
    source = (ATTACKS / f"{attack}.py").read_text()
    plugin = make_plugin(tmp_path / attack, {"main.py": source + PING,
                                             "_escape.py": (ATTACKS / "_escape.py").read_text()})
    try:
        result = call(weaker, plugin, "hook", "attack", {}, installation=f"control-{attack}")
    finally:
        weaker.close()

    assert result.status == "ok", result
    assert "ESCAPED" in repr(result.value), result.value
