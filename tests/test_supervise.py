"""`make run`'s supervisor (config/supervise.py): a process that dies is restarted, the others run on."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.supervise import describe_exit, parse_procfile

REPO = Path(__file__).resolve().parents[1]


def test_procfile_lines_are_parsed_in_order_and_a_bad_line_is_named():
    assert parse_procfile("# c\nweb: gunicorn x --bind :$PORT\n\nworker: celery -A config worker\n") == [
        ("web", "gunicorn x --bind :$PORT"), ("worker", "celery -A config worker")]
    with pytest.raises(ValueError, match="Procfile line 2: expected 'name: command'"):
        parse_procfile("web: x\njust a command\n")


def test_exits_are_described_as_a_person_reads_them():
    assert describe_exit(-9) == "signal 9 (SIGKILL)" and describe_exit(3) == "exit code 3"


def _wait_for(log: Path, pattern: str, seconds: float = 20) -> re.Match:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text())
        if match:
            return match
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in:\n{log.read_text()}")


def test_a_killed_process_is_restarted_with_the_reason_and_the_others_keep_running(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("first: sleep 600\nsecond: sleep 600\n")
    log = tmp_path / "out.log"
    supervisor = subprocess.Popen([sys.executable, "-m", "config.supervise", str(procfile)], cwd=REPO,
                                  stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        first = int(_wait_for(log, r"first +\| started with pid (\d+)").group(1))
        second = int(_wait_for(log, r"second +\| started with pid (\d+)").group(1))
        for restart in (1, 2):
            os.kill(first, signal.SIGKILL)
            _wait_for(log, rf"first \(pid {first}\) died after \d+ s: signal 9 \(SIGKILL\); "
                           rf"restarting it in \d+ s \(restart {restart}\)")
            first = int(_wait_for(log, rf"first +\| started with pid (?!{first}\b)(\d+)").group(1))
        os.kill(second, 0)  # still the same process: untouched
        assert log.read_text().count("second    | started") == 1
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(20) == 0
    _wait_for(log, r"stopping every process")
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)
