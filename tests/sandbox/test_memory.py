"""The jails' resident memory from /proc: one process, a tree without its workers, and the
supervisor's stats after real calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from plugins_core.sandbox.memory import rss_bytes, tree_rss_bytes

from .conftest import call, make_plugin

HOOK = 'from src.ext.sdk import hook\n\n@hook("ping")\ndef ping(ctx, data):\n    return data\n'
HOLDS_40_MB = "import sys, time\nblob = bytearray(40 << 20)\nsys.stdout.write('ready\\n'); sys.stdout.flush()\ntime.sleep(60)\n"
PARENT = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.argv[1], "-c", {HOLDS_40_MB!r}], stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_process_rss_is_read_and_a_gone_one_is_zero() -> None:
    assert rss_bytes(os.getpid()) > 1 << 20
    child = subprocess.Popen(["true"])
    child.wait()
    assert rss_bytes(child.pid) == 0


def test_a_tree_counts_its_children_unless_they_are_apart() -> None:
    # A parent of our own (this test process has other children: the shared supervisor's jails)
    # starting one child that holds 40 MB, and telling us its pid once the memory is touched.
    parent = subprocess.Popen([sys.executable, "-c", PARENT, sys.executable], stdout=subprocess.PIPE)
    child = None
    try:
        child = int(parent.stdout.readline())
        mine, theirs = rss_bytes(parent.pid), rss_bytes(child)
        assert theirs > 40 << 20 and 0 < mine < 40 << 20
        assert tree_rss_bytes(parent.pid) == mine + theirs
        assert tree_rss_bytes(parent.pid, apart={child}) == mine
    finally:
        if child is not None:
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_the_supervisor_reports_each_zygote_and_worker_memory(supervisor, tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "p", {"main.py": HOOK})
    for installation in ("m1", "m2"):
        assert call(supervisor, plugin, "hook", "ping", 1, installation=installation).status == "ok"
    time.sleep(0.1)
    stats = supervisor.stats()
    workers = {key: n for key, n in stats["worker_memory_bytes"].items() if key.startswith(f"{plugin}|")}
    assert set(workers) == {f"{plugin}|m1", f"{plugin}|m2"}
    assert all(n > 4 << 20 for n in workers.values())  # a forked interpreter with the SDK loaded
    # A zygote's jail is two bubblewraps (~2 MB each) and the interpreter under them.
    assert stats["zygote_memory_bytes"][str(plugin)] > 8 << 20
    assert stats["memory_bytes"] == (sum(stats["zygote_memory_bytes"].values())
                                     + sum(stats["worker_memory_bytes"].values()) + stats["spare_memory_bytes"])
