"""Running the real sandbox service (`manage.py sandboxd`) for the suite and for fault tests."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SandboxService:
    """One `manage.py sandboxd` process on ``socket_path``; its output goes to a log file."""

    def __init__(self, socket_path: str, **env: str) -> None:
        self.socket_path = socket_path
        self.env = {**os.environ, "PLUGYARD_SANDBOX_SOCKET": socket_path, **env}
        self.log_path = Path(f"{socket_path}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_s: float = 60.0) -> SandboxService:
        from plugins_core.sandbox import SandboxClient

        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "sandboxd", "--socket", self.socket_path],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        client = SandboxClient(socket_path=self.socket_path)
        deadline = time.monotonic() + wait_s
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"sandboxd exited with {self.proc.returncode}:\n{self.output()}")
                if client.ping():
                    return self
                time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"sandboxd did not answer within {wait_s} s:\n{self.output()}")

    def kill(self) -> None:
        """kill -9 the service (its jails die with it: bwrap's --die-with-parent)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""
