"""Static scan limits: hostile sources are refused by name, and the caller's memory stays flat.

Each hostile source is checked in a fresh interpreter of its own, so its peak RSS (VmHWM)
before and after the check measures the scan alone. The controls at the end run the old
in-process parse on the same sources and show that the attack is real.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plugyard_sdk import _scan
from plugyard_sdk._archive import PackageLimits, read_entries
from plugyard_sdk._scan import (
    MAX_PY_FILE_BYTES,
    MAX_PY_TOTAL_BYTES,
    SCAN_MEMORY_LIMIT,
    check_python_files,
)
from plugyard_sdk.package import read_package
from plugyard_sdk.problems import PackageInvalid, Problem

from .conftest import make_zip, sbh_manifest

MB = 1024 * 1024
needs_proc = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc"
)


def plus_chain(terms: int, varied: float) -> bytes:
    """``x = 1+1+7+1+…``: a ``varied`` share of random digits keeps the zip ratio believable."""
    rng = random.Random(0)
    digits = (str(rng.randrange(10)) if rng.random() < varied else "1" for _ in range(terms))
    return ("x = " + "+".join(digits)).encode()


DEEP_PARENS = b"x = " + b"(" * 100_000 + b"1" + b")" * 100_000  # 200 kB, under the limit
DEEP_LISTS = b"x = " + b"[" * 100_000 + b"]" * 100_000
PLUS_CHAIN = plus_chain(120_000, varied=1.0)  # 240 kB, under the limit
# The issue's attack: 2 MB of source in a 98 kB zip that the archive checks let through.
ISSUE_CHAIN = plus_chain(1_000_000, varied=0.05)
# Legal Python under the size limit that still makes a syntax tree of over 150 MB.
ASSIGN_LINES = b"x=1\n" * (MAX_PY_FILE_BYTES // 4)


def found(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.field, p.code) for p in problems}


# ------------------------------------------------------------------ size, before parsing


def test_an_oversized_file_is_refused_unparsed_and_the_others_still_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []
    real = _scan._check_in_children
    monkeypatch.setattr(
        _scan,
        "_check_in_children",
        lambda sources, *args: (checked.extend(sources), real(sources, *args)),
    )
    big = b"def broken(:\n" + b"#" * MAX_PY_FILE_BYTES  # a syntax error no parser will see

    problems, _ = check_python_files({"big.py": big, "main.py": b"import os\n"})

    assert found(problems) == {("big.py", "code_too_large"), ("main.py:1", "forbidden_import")}
    assert checked == ["main.py"]
    [message] = [p.message for p in problems if p.field == "big.py"]
    assert f"{len(big):,} bytes" in message and "256 KiB" in message


def test_python_files_over_the_total_are_refused_on_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_scan, "_check_in_children", pytest.fail)
    share = MAX_PY_FILE_BYTES - 1
    files = {f"m{i}.py": b"#" * share for i in range(MAX_PY_TOTAL_BYTES // share + 1)}

    problems, warnings = check_python_files(files)

    assert found(problems) == {("archive", "code_too_large")}
    assert "2048 KiB" in problems[0].message and warnings == []


# ------------------------------------------------------------------ hostile sources

# What the scan may cost the calling process, on top of its state before the call.
RSS_BUDGET = 50 * MB

MEASURE = """
import json, sys
from pathlib import Path
from plugyard_sdk._scan import check_python_files

def peak():
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024

source = Path(sys.argv[1]).read_bytes()
check_python_files({"warmup.py": b"import json\\n"})  # the first call's imports aren't the scan
before = peak()
problems, _ = check_python_files({"hostile.py": source, "main.py": b"import os\\n"})
print(json.dumps({"grew": peak() - before, "problems": [p.as_dict() for p in problems]}))
"""


def scan_in_fresh_process(source: bytes, tmp_path: Path) -> tuple[int, list[dict[str, str]]]:
    (tmp_path / "hostile.py").write_bytes(source)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "hostile.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    return result["grew"], result["problems"]


@needs_proc
@pytest.mark.parametrize(
    ("source", "code", "says"),
    [
        pytest.param(DEEP_PARENS, "syntax_error", "too many nested parentheses", id="parens"),
        pytest.param(DEEP_LISTS, "syntax_error", "too many nested parentheses", id="lists"),
        pytest.param(PLUS_CHAIN, "code_too_complex", "too deeply nested", id="plus-chain"),
        pytest.param(ISSUE_CHAIN, "code_too_large", "256 KiB", id="issue-chain"),
    ],
)
def test_hostile_source_is_refused_by_name_and_the_caller_stays_small(
    source: bytes, code: str, says: str, tmp_path: Path
) -> None:
    grew, problems = scan_in_fresh_process(source, tmp_path)

    hostile = [p for p in problems if p["field"].partition(":")[0] == "hostile.py"]
    assert [p["code"] for p in hostile] == [code]
    assert says in hostile[0]["message"]
    assert ("main.py:1", "forbidden_import") in {(p["field"], p["code"]) for p in problems}
    assert grew < RSS_BUDGET, f"the caller grew {grew / MB:.0f} MB"


def test_an_upload_with_hostile_files_is_refused_with_problems_not_an_exception() -> None:
    files = {"plugin.json": sbh_manifest(), "main.py": b"import json\n"}

    with pytest.raises(PackageInvalid) as info:
        read_package(make_zip({**files, "evil.py": PLUS_CHAIN, "huge.py": ISSUE_CHAIN}))

    assert found(info.value.problems) == {
        ("evil.py", "code_too_complex"),
        ("huge.py", "code_too_large"),
    }
    assert str(info.value) == (
        "huge.py: this Python file is 2,000,003 bytes; the limit is 262,144 bytes (256 KiB)"
        " per file, so it was not checked [code_too_large]; evil.py: too deeply nested or"
        " too large to check (the parser's nesting limit was reached) [code_too_complex]"
    )


def test_a_file_that_needs_more_memory_than_the_limit_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_scan, "SCAN_MEMORY_LIMIT", 64 * MB)

    problems, _ = check_python_files({"dense.py": ASSIGN_LINES, "main.py": b"import os\n"})

    assert found(problems) == {("dense.py", "code_too_complex"), ("main.py:1", "forbidden_import")}
    [dense] = [p for p in problems if p.field == "dense.py"]
    assert "memory" in dense.message


CRASHING_CHILD = _scan._CHILD_PROGRAM.replace(
    'importlib.import_module(package + "._scan")._child_main()',
    "scan = importlib.import_module(package + '._scan')\n"
    "real = scan._check_source\n"
    "def check(path, data, own):\n"
    "    if path == 'boom.py':\n"
    "        import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n"
    "    return real(path, data, own)\n"
    "scan._check_source = check\n"
    "scan._child_main()\n",
)


def test_a_child_killed_mid_file_names_that_file_and_the_rest_are_still_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert CRASHING_CHILD != _scan._CHILD_PROGRAM
    monkeypatch.setattr(_scan, "_CHILD_PROGRAM", CRASHING_CHILD)
    files = {"a.py": b"import os\n", "boom.py": b"x = 1\n", "c.py": b"import socket\n"}

    problems, _ = check_python_files(files)

    assert found(problems) == {
        ("a.py:1", "forbidden_import"),
        ("boom.py", "code_too_complex"),
        ("c.py:1", "forbidden_import"),
    }
    [boom] = [p for p in problems if p.field == "boom.py"]
    assert (
        boom.message
        == "too deeply nested or too large to check (the checker was killed by SIGKILL)"
    )


def test_the_caller_waits_at_most_the_timeout_and_the_slow_file_is_named() -> None:
    files = {f"{name}.py": ASSIGN_LINES for name in "abcde"}  # half a second each, or so

    started = time.monotonic()
    problems, _ = check_python_files(files, timeout=0.8)
    waited = time.monotonic() - started

    assert waited < 0.8 + 0.5
    timed_out = [p for p in problems if p.code == "code_too_complex" and "0.8 s" in p.message]
    assert timed_out and timed_out[0].field in files  # the file it was on, by name
    assert any(p.field == "archive" and "not checked" in p.message for p in problems)


def test_a_timeout_before_any_file_started_names_the_package() -> None:
    problems, _ = check_python_files({"main.py": b"import json\n"}, timeout=0.001)

    assert found(problems) == {("archive", "code_too_complex")}
    assert "could not be checked" in problems[0].message


def test_past_a_hundred_problems_the_rest_are_counted() -> None:
    problems, _ = check_python_files({"main.py": b"import os\n" * 300})

    assert len(problems) == 101
    assert (problems[-1].field, problems[-1].code) == ("archive", "forbidden_import")
    assert problems[-1].message == "and 200 more like these, not shown"


# ------------------------------------------------------------------ normal plugins


def test_a_normal_plugin_still_passes(
    sbh_files: dict[str, bytes], ops_files: dict[str, bytes]
) -> None:
    assert check_python_files(sbh_files) == ([], [])
    assert check_python_files(ops_files) == ([], [])
    assert check_python_files({"plugin.json": b"{}"}) == ([], [])  # no Python: no child at all


# ------------------------------------------------------------------ controls: defence off

OLD_SCAN = """
import ast, json, sys
from pathlib import Path

def peak():
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024

source = Path(sys.argv[1]).read_bytes()
before = peak()
try:  # what `_scan` did before: parse in the calling process, no size limit
    sum(1 for _ in ast.walk(ast.parse(source)))
    outcome = "parsed"
except (SyntaxError, RecursionError, MemoryError) as exc:
    outcome = type(exc).__name__
print(json.dumps({"grew": peak() - before, "outcome": outcome}))
"""


def old_scan_in_fresh_process(source: bytes, tmp_path: Path) -> tuple[int, str]:
    (tmp_path / "hostile.py").write_bytes(source)
    done = subprocess.run(
        [sys.executable, "-c", OLD_SCAN, str(tmp_path / "hostile.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    return result["grew"], result["outcome"]


@needs_proc
def test_control_the_old_in_process_parse_of_a_small_zip_blows_past_the_memory_limit(
    tmp_path: Path,
) -> None:
    archive = make_zip({"main.py": ISSUE_CHAIN})
    assert len(archive) < 100_000  # the issue's "97 kB archive"
    assert read_entries(archive, "plugin.zip", PackageLimits())[2] == []  # the archive passes

    grew, outcome = old_scan_in_fresh_process(ISSUE_CHAIN, tmp_path)

    assert grew > SCAN_MEMORY_LIMIT, f"grew only {grew / MB:.0f} MB ({outcome})"


@needs_proc
def test_control_under_the_size_limit_the_old_parse_still_costs_the_caller_far_more(
    tmp_path: Path,
) -> None:
    # The size limit alone is not the defence: this legal file is under it.
    old_grew, outcome = old_scan_in_fresh_process(ASSIGN_LINES, tmp_path)
    new_grew, problems = scan_in_fresh_process(ASSIGN_LINES, tmp_path)

    assert outcome == "parsed"
    assert old_grew > 2 * RSS_BUDGET, f"grew only {old_grew / MB:.0f} MB"
    assert new_grew < RSS_BUDGET
    assert [p["code"] for p in problems] == ["forbidden_import"]  # main.py; the file passed
