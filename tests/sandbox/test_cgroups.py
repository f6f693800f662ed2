"""cgroup v2 jail groups (`plugins_core/sandbox/cgroups.py`): probing, limits, moves, usage, cleanup.

Most tests run on a fake cgroup tree in tmp_path (the module reads every path from an
injectable /proc). The real test needs a writable cgroup v2 with cpu, memory and pids and
is skipped, with the probe's reason, where there is none; the control beside it runs
everywhere, so a "refused" fork in the real test is the group's doing.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from plugins_core.sandbox import cgroups
from plugins_core.sandbox.cgroups import JailGroup

V1_MOUNTS = "".join(f"cgroup /sys/fs/cgroup/{c} cgroup rw,relatime,{c} 0 0\n" for c in ("cpu", "memory", "pids"))


def _fake_rmdir(path: Path) -> None:
    """cgroupfs rmdir: refused while the group has processes or child groups; takes its files along."""
    if (path / "cgroup.procs").exists() and (path / "cgroup.procs").read_text().split():
        raise OSError(errno.EBUSY, "Device or resource busy")
    if any(entry.is_dir() for entry in path.iterdir()):
        raise OSError(errno.EBUSY, "Device or resource busy")
    shutil.rmtree(path)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A cgroup2 mount at tmp/cg, this process alone in its cgroup /svc, cpu+memory+pids offered."""
    proc, mount = tmp_path / "proc", tmp_path / "cg"
    own = mount / "svc"
    (proc / "self").mkdir(parents=True)
    own.mkdir(parents=True)
    (proc / "self" / "mounts").write_text(f"proc /proc proc rw 0 0\ncgroup2 {mount} cgroup2 rw,nosuid 0 0\n")
    (proc / "self" / "cgroup").write_text("0::/svc\n")
    (mount / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    (own / "cgroup.controllers").write_text("cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    (own / "cgroup.type").write_text("domain\n")
    (own / "cgroup.procs").write_text(f"{os.getpid()}\n")
    monkeypatch.setattr(cgroups, "_rmdir", _fake_rmdir)
    monkeypatch.setattr(cgroups, "_PREPARED", set())

    def hierarchy() -> cgroups.Hierarchy:
        hier, why = cgroups.locate(proc)
        assert hier is not None, why
        return hier

    return SimpleNamespace(proc=proc, mount=mount, own=own, hierarchy=hierarchy)


# ---- probe


def test_probe_on_a_v1_v2_hybrid_names_the_missing_controllers(fake) -> None:
    # given this machine's shape: cgroup2 at the root with hugetlb only, the rest on cgroup v1
    (fake.proc / "self" / "mounts").write_text(V1_MOUNTS + f"cgroup2 {fake.mount} cgroup2 rw 0 0\n")
    (fake.proc / "self" / "cgroup").write_text("0::/\n")
    (fake.mount / "cgroup.controllers").write_text("hugetlb\n")
    # when / then
    available, note = cgroups.probe(fake.proc)
    assert available is False
    assert note == (f"cgroup v2 at {fake.mount} (this process's cgroup /) offers only hugetlb; missing: cpu, "
                    "memory, pids; this host binds them to cgroup v1 (/sys/fs/cgroup/cpu, "
                    "/sys/fs/cgroup/memory, /sys/fs/cgroup/pids): a v1/v2 hybrid")


def test_probe_without_cgroup2(fake) -> None:
    (fake.proc / "self" / "mounts").write_text(V1_MOUNTS)
    assert cgroups.probe(fake.proc) == (False, "no cgroup2 file system in /proc/self/mounts (cgroup v1 only)")


def test_probe_refuses_a_cgroup_shared_with_other_processes(fake) -> None:
    (fake.own / "cgroup.procs").write_text(f"{os.getpid()}\n4242\n")
    available, note = cgroups.probe(fake.proc)
    assert available is False
    assert "holds other processes (4242)" in note and "no internal processes" in note
    assert "Delegate=yes" in note


def test_probe_says_where_jails_go_and_that_this_process_moves_first(fake) -> None:
    available, note = cgroups.probe(fake.proc)
    assert available is True
    assert f"below {fake.own / 'plugyard-sandbox'}" in note
    assert f"will first move into {fake.own / 'plugyard-host'}" in note
    assert sorted(p.name for p in fake.own.iterdir() if p.is_dir()) == []  # the trial group is gone
    assert (fake.own / "cgroup.subtree_control").read_text() == ""  # and nothing was enabled


# ---- create, add, usage, kill, remove


def test_create_sets_up_the_leaf_parent_and_writes_the_limits(fake) -> None:
    # when
    group = JailGroup.create("plugin@1.0:abc", memory_bytes=64 << 20, cpu_max=(50_000, 100_000), pids_max=8,
                             hierarchy=fake.hierarchy())
    # then: this process left its cgroup, which (and the sandbox parent) now hand controllers down
    assert group is not None
    assert (fake.own / "plugyard-host" / "cgroup.procs").read_text() == str(os.getpid())
    assert (fake.own / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (fake.own / "plugyard-sandbox" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert group.path.parent == fake.own / "plugyard-sandbox"
    assert group.path.name.startswith(f"{os.getpid()}-") and group.path.name.endswith("-plugin_1.0_abc")
    assert (group.path / "memory.max").read_text() == str(64 << 20)
    assert (group.path / "cpu.max").read_text() == "50000 100000"
    assert (group.path / "pids.max").read_text() == "8"


def test_a_child_group_makes_its_parent_hand_controllers_down(fake) -> None:
    jail = JailGroup.create("jail", memory_bytes=128 << 20, hierarchy=fake.hierarchy())
    assert jail is not None
    worker = JailGroup.create("worker", pids_max=1, parent=jail)
    assert worker is not None and worker.path.parent == jail.path
    assert (jail.path / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (worker.path / "pids.max").read_text() == "1"


def test_add_moves_a_process_and_its_descendants_parents_first(fake, monkeypatch) -> None:
    # given a tree 100 → (101 → 103), 102, children listed per thread as the kernel does
    for pid, tid, kids in [(100, 100, "101"), (100, 105, "102"), (101, 101, "103")]:
        (fake.proc / str(pid) / "task" / str(tid)).mkdir(parents=True)
        (fake.proc / str(pid) / "task" / str(tid) / "children").write_text(kids + " ")
    group = JailGroup.create("jail", hierarchy=fake.hierarchy())
    assert group is not None
    moved: list[str] = []
    real_write = cgroups._write
    monkeypatch.setattr(cgroups, "_write", lambda path, value: (moved.append(value), real_write(path, value)))
    # when
    group.add(100)
    # then
    assert moved[0] == "100" and sorted(moved) == ["100", "101", "102", "103"]
    assert moved.index("101") < moved.index("103")


def test_add_reports_a_process_that_cannot_be_moved(fake, monkeypatch) -> None:
    group = JailGroup.create("jail", hierarchy=fake.hierarchy())
    assert group is not None

    def gone(path: Path, value: str) -> None:
        raise OSError(errno.ESRCH, "No such process")

    monkeypatch.setattr(cgroups, "_write", gone)
    with pytest.raises(cgroups.CgroupError, match="cannot move pid 77"):
        group.add(77)


def test_usage_is_read_from_the_group(fake) -> None:
    group = JailGroup.create("jail", hierarchy=fake.hierarchy())
    assert group is not None
    (group.path / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (group.path / "memory.peak").write_text("1048576\n")
    (group.path / "memory.current").write_text("4096\n")
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    (group.path / "pids.events").write_text("max 3\n")
    assert group.cpu_seconds() == 2.5
    assert group.memory_peak_bytes() == 1048576
    assert group.oom_kills() == 1 and group.forks_refused() == 3
    (group.path / "memory.peak").unlink()  # kernels before 5.19
    assert group.memory_peak_bytes() == 4096


def test_kill_writes_cgroup_kill(fake) -> None:
    group = JailGroup.create("jail", hierarchy=fake.hierarchy())
    assert group is not None
    (group.path / "cgroup.kill").write_text("")
    group.kill()
    assert (group.path / "cgroup.kill").read_text() == "1"


def test_kill_without_cgroup_kill_signals_every_process(fake) -> None:
    jail = JailGroup.create("jail", hierarchy=fake.hierarchy())
    assert jail is not None
    worker = JailGroup.create("worker", parent=jail)
    assert worker is not None
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (worker.path / "cgroup.procs").write_text(f"{sleeper.pid}\n")  # below the group: found too
        jail.kill()
        assert sleeper.wait(timeout=5) == -9
    finally:
        sleeper.kill()
        sleeper.wait()


def test_remove_takes_child_groups_first_and_waits_for_processes(fake) -> None:
    jail = JailGroup.create("jail", hierarchy=fake.hierarchy())
    assert jail is not None
    worker = JailGroup.create("worker", parent=jail)
    assert worker is not None
    (worker.path / "cgroup.procs").write_text("4242\n")
    assert jail.remove(timeout=0) is False  # a process remains: EBUSY
    assert jail.path.exists() and worker.path.exists()
    (worker.path / "cgroup.procs").write_text("")
    assert jail.remove() is True
    assert not jail.path.exists()
    assert jail.remove() is True  # already gone is gone


def test_groups_left_by_dead_processes_are_swept(fake) -> None:
    base = fake.own / "plugyard-sandbox"
    (base / "999999999-1-old").mkdir(parents=True)
    (base / "999999999-1-old" / "cgroup.procs").write_text("")
    (fake.proc / "31337").mkdir()  # a live owner
    (base / "31337-1-busy").mkdir()
    assert JailGroup.create("jail", hierarchy=fake.hierarchy()) is not None
    assert not (base / "999999999-1-old").exists()
    assert (base / "31337-1-busy").exists()


def test_create_returns_none_and_logs_why(fake, caplog) -> None:
    (fake.own / "cgroup.procs").write_text(f"{os.getpid()}\n4242\n")
    with caplog.at_level(logging.WARNING, logger="plugyard.sandbox"):
        assert JailGroup.create("jail", pids_max=1, hierarchy=fake.hierarchy()) is None
    assert "holds other processes" in caplog.text
    assert not (fake.own / "plugyard-sandbox").exists()


def test_a_limit_the_kernel_refuses_leaves_no_group_behind(fake, monkeypatch) -> None:
    real_write = cgroups._write

    def refuse_cpu(path: Path, value: str) -> None:
        if path.name == "cpu.max":
            raise OSError(errno.EINVAL, "Invalid argument")  # e.g. a quota under 1 ms
        real_write(path, value)

    monkeypatch.setattr(cgroups, "_write", refuse_cpu)
    assert JailGroup.create("jail", cpu_max=(10, 100_000), hierarchy=fake.hierarchy()) is None
    assert [p for p in (fake.own / "plugyard-sandbox").iterdir() if p.is_dir()] == []


def test_a_limit_that_is_not_a_positive_integer_is_a_bug(fake) -> None:
    with pytest.raises(ValueError, match="positive integers"):
        JailGroup.create("jail", pids_max=0, hierarchy=fake.hierarchy())


def test_locate_after_the_move_still_finds_the_cgroup_we_left(fake) -> None:
    # given this process (or one forked from it) already lives in plugyard-host
    assert JailGroup.create("jail", hierarchy=fake.hierarchy()) is not None
    (fake.proc / "self" / "cgroup").write_text("0::/svc/plugyard-host\n")
    (fake.own / "plugyard-host" / "cgroup.controllers").write_text("cpu io memory pids\n")
    # then jails still go below /svc, not below the leaf
    hier, _ = cgroups.locate(fake.proc)
    assert hier is not None and hier.own == fake.own


# ---- the real thing


AVAILABLE, WHY = cgroups.probe()

# After os.fork() fails on pids.max, fork raises BlockingIOError (EAGAIN).
FORK_ONCE = """
import os, sys
sys.stdin.read(1)                  # wait until the parent has placed us
ballast = b"x" * (8 << 20)         # touched pages: charged to the group we are in now
try:
    pid = os.fork()
except BlockingIOError:
    print("refused")
    sys.exit(0)
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("forked")
"""


def _fork_attempt(group: JailGroup | None) -> str:
    child = subprocess.Popen([sys.executable, "-I", "-S", "-c", FORK_ONCE], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    try:
        if group is not None:
            group.add(child.pid)
        out, _ = child.communicate(b"x", timeout=30)
    finally:
        child.kill()
        child.wait()
    return out.decode().strip()


def test_control_the_child_forks_without_a_group() -> None:
    assert _fork_attempt(None) == "forked"


@pytest.mark.skipif(not AVAILABLE, reason=f"no usable cgroup v2 here: {WHY}")
def test_a_process_in_a_pids_max_1_group_cannot_fork() -> None:
    """The second wall under root: pids.max holds for uid 0, where RLIMIT_NPROC does not.
    (The first JailGroup.create() moves this test process into <own cgroup>/plugyard-host.)"""
    group = JailGroup.create("test-no-fork", memory_bytes=256 << 20, cpu_max=(100_000, 100_000), pids_max=1)
    assert group is not None
    try:
        assert _fork_attempt(group) == "refused"
        assert group.forks_refused() >= 1
        assert group.cpu_seconds() > 0
        if (group.path / "memory.peak").exists():
            assert group.memory_peak_bytes() >= 8 << 20
    finally:
        group.kill()
        assert group.remove()
