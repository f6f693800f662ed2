"""Given a hostile plugin, when it runs, then it is contained and the host serves the next call.

Each file in `attacks/` is a plugin's main.py (plus the shared `_escape.py` helper that
defeats the Python-level layers the way a real attacker would). Its first lines say which
statuses are acceptable and which kernel layers it relies on. An attack reports success by
returning a value containing "ESCAPED"; nothing may.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugins_core.sandbox import DictBridge

from .conftest import call, make_plugin

ATTACKS = Path(__file__).parent / "attacks"
FILES = sorted(p for p in ATTACKS.glob("a*.py"))
PING = '\n\n@hook("ping")\ndef _ping(ctx, data):\n    return "pong"\n'


def _meta(path: Path) -> tuple[set[str], set[str]]:
    text = path.read_text()
    expect = re.search(r"^# expect: (.+)$", text, re.M)
    needs = re.search(r"^# needs: (.+)$", text, re.M)
    return (set(expect.group(1).split(",")) if expect else {"ok", "error"},
            set(needs.group(1).split(",")) if needs else set())


def _params() -> list:
    params = []
    for path in FILES:
        _, needs = _meta(path)
        marks = [getattr(pytest.mark, f"needs_{n}") for n in sorted(needs)]
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def test_corpus_is_big_enough() -> None:
    assert len(FILES) >= 30


@pytest.mark.parametrize("attack", _params())
def test_attack_is_contained(supervisor, tmp_path: Path, attack: Path) -> None:
    expect, _needs = _meta(attack)
    plugin = make_plugin(tmp_path / attack.stem, {"main.py": attack.read_text() + PING,
                                                  "_escape.py": (ATTACKS / "_escape.py").read_text()})
    victim = DictBridge(secrets={"OTHER_TENANT_KEY": "victim-secret"})
    bridge = DictBridge(permissions={"outbound_http"})
    installation = f"inst-{attack.stem}"
    timeout = 2.0 if "timeout" in expect else None

    result = call(supervisor, plugin, "hook", "attack", {}, bridge=bridge, installation=installation, timeout=timeout)

    assert result.status in expect, result
    assert "ESCAPED" not in repr(result.value), result.value
    assert "ESCAPED" not in " ".join(result.logs[:5])
    for text in (result.traceback or "", result.error or ""):
        assert "/work/" not in text and "/root/" not in text and "_pyard_rt" not in text, text
    assert victim.calls == []
    if result.status == "ok":
        assert "contained" in str(result.value), result.value
    # ... and the host keeps serving: this installation (fresh worker if the old one died) ...
    if attack.stem not in {"a01_import_os"}:
        again = call(supervisor, plugin, "hook", "ping", {}, bridge=bridge, installation=installation)
        assert again.status == "ok" and again.value == "pong", again
    # ... and everyone else.
    benign = make_plugin(tmp_path / "benign", {"main.py": "from src.ext.sdk import hook" + PING})
    assert call(supervisor, benign, "hook", "ping", {}, installation="bystander").status == "ok"


def test_load_time_import_reports_file_and_line(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": (ATTACKS / "a01_import_os.py").read_text()})
    report = supervisor.inspect(plugin, "main.py")
    assert not report.ok
    assert report.errors[0]["file"] == "main.py" and report.errors[0]["line"] == 3
    assert "import of 'os' is not allowed" in report.errors[0]["message"]


def test_tripwire_recycles_the_worker(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": (ATTACKS / "a11_gi_frame_walk.py").read_text() + PING})
    first = call(supervisor, plugin, "hook", "attack", {}, installation="trip")
    assert first.audit == ["frame access .gi_frame"]
    assert call(supervisor, plugin, "hook", "ping", {}, installation="trip").status == "ok"


def test_no_state_crosses_installations(supervisor, tmp_path: Path) -> None:
    source = (ATTACKS / "a37_gc_cross_tenant.py").read_text()
    plugin = make_plugin(tmp_path / "p", {"main.py": source, "_escape.py": (ATTACKS / "_escape.py").read_text()})
    planted = call(supervisor, plugin, "hook", "plant", {"secret": "victim-secret-123"}, installation="victim")
    assert planted.status == "ok"
    probe = call(supervisor, plugin, "hook", "attack", {}, installation="attacker")
    assert probe.status == "ok" and probe.value == "contained: SECRET=None", probe


def test_output_flood_is_capped(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": (ATTACKS / "a26_output_flood.py").read_text()})
    result = call(supervisor, plugin, "hook", "attack", {})
    assert len(result.logs) <= supervisor.policy.max_log_lines + 1
    assert sum(map(len, result.logs)) <= supervisor.policy.max_log_bytes + 200
    assert "dropped: output limit" in result.logs[-1]
