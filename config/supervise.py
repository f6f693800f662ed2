"""`make run`'s supervisor: every Procfile process, each restarted when it dies.

    python -m config.supervise Procfile --port 8000

Each process runs in a session of its own, its output prefixed with its name. One that
exits, or is killed (the OOM killer's SIGKILL included), is restarted and the reason is
printed; the others keep running. A process that keeps dying waits longer between
restarts (1 s, doubling up to 30 s, back to 1 s once it has stayed up a minute). Ctrl-C or
SIGTERM stops them all: SIGTERM to each process group, SIGKILL to what is left after 10 s.

In production a real supervisor (systemd, Kubernetes) does this job: docs/operators.md.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["main", "parse_procfile"]

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0
STOP_GRACE_S = 10.0

_print_lock = threading.Lock()


def say(name: str, line: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{time.strftime('%H:%M:%S')} {name:<9} | {line}\n")
        sys.stdout.flush()


def parse_procfile(text: str) -> list[tuple[str, str]]:
    """``name: command`` lines, in order; blank lines and ``#`` comments skipped."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip().isidentifier() or not command.strip():
            raise ValueError(f"Procfile line {number}: expected 'name: command', got {raw!r}")
        entries.append((name.strip(), command.strip()))
    return entries


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


@dataclass
class Process:
    name: str
    command: str
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = FIRST_DELAY_S
    restarts: int = 0
    restart_at: float | None = None
    _reader: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self.popen = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {self.command}"], env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        say(self.name, f"started with pid {self.popen.pid}")
        self._reader = threading.Thread(target=self._relay, args=(self.popen,), daemon=True)
        self._reader.start()

    def _relay(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        for raw in popen.stdout:
            say(self.name, raw.decode(errors="replace").rstrip("\n"))

    def signal_group(self, signum: int) -> None:
        """Signal the process's whole session: gunicorn's workers, the sandbox's jails."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def check(self, now: float) -> None:
        """Notice a death and plan the restart; restart when its time has come."""
        if self.popen is not None and self.restart_at is None:
            code = self.popen.poll()
            if code is None:
                return
            uptime = now - self.started_at
            self.signal_group(signal.SIGKILL)  # what it left behind goes with it
            if uptime >= STABLE_AFTER_S:
                self.delay = FIRST_DELAY_S
            wait, self.delay = self.delay, min(self.delay * 2, MAX_DELAY_S)
            self.restarts += 1
            self.restart_at = now + wait
            say("supervise", f"{self.name} (pid {self.popen.pid}) died after {uptime:.0f} s: {describe_exit(code)}; "
                             f"restarting it in {wait:.0f} s (restart {self.restarts})")
        if self.restart_at is not None and now >= self.restart_at:
            self.start()


def stop_all(processes: list[Process]) -> None:
    for process in processes:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        if process.popen is None:
            continue
        try:
            process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say("supervise", f"{process.name} did not stop in {STOP_GRACE_S:.0f} s; killing it")
        process.signal_group(signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("procfile", type=Path)
    parser.add_argument("--port", default=os.environ.get("PORT", "8000"), help="$PORT for the processes (the web's)")
    options = parser.parse_args(argv)
    try:
        entries = parse_procfile(options.procfile.read_text())
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    env = {**os.environ, "PORT": str(options.port), "PYTHONUNBUFFERED": "1"}
    processes = [Process(name, command, env) for name, command in entries]

    stopping = threading.Event()

    def request_stop(signum, frame) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for process in processes:
        process.start()
    while not stopping.wait(0.2):
        now = time.monotonic()
        for process in processes:
            process.check(now)
    say("supervise", "stopping every process")
    stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
