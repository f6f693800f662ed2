"""The jail: which isolation layers this machine gives, and the command that starts a zygote.

With bubblewrap the zygote runs with every namespace unshared (no network at all, its own
PID/IPC/UTS/user/cgroup namespaces), an empty environment, a new session, no
capabilities, and a root filesystem that is an empty read-only tmpfs holding only: the
interpreter binary, libpython and the shared libraries they load, the stdlib (with
site-packages hidden), the SDK runtime files, the sandbox runtime, and the plugin's own
directory — all read-only. No /proc, no /dev, no /etc, no project source.
Without bubblewrap it is still a separate process with an empty environment; the other
layers (rlimits, seccomp, import guard) remain, and `layers()` says what is missing.

Second walls, where one layer stood alone:
- `--disable-userns` (bubblewrap 0.8+): the jail cannot create user namespaces (ENOSPC),
  behind seccomp (the zygote filter refuses unshare/setns, the worker's every clone).
  Used when this bwrap lists it and a trial run with it works; `Layers.disable_userns`
  and `notes["disable_userns"]` say whether it is on. It is part of `namespaces`, not a
  layer of its own.
- cgroup v2 (`cgroups.py`): `Layers.cgroups` says whether jails can get memory, CPU and
  pids limits here, `notes["cgroups"]` exactly what is missing. It is reported, but it is
  not in `as_dict()` and never in `missing()`, so strict mode does not refuse without it,
  not even as root (where pids.max is the second wall for "no new processes", seccomp the
  first). Why: strict mode's promise is the documented layers, and CI (`.ci/run`) and the
  dev machine run as root, strict, on a cgroup v1/v2 hybrid; counting a new second wall
  would turn strict into "refuse all plugin code" there, a change of contract rather than
  a hardening. To require it as root, add `cgroups` to `missing()` when
  `os.geteuid() == 0` (and to `as_dict()`, so that `sandbox_check` and `layers()` agree
  with the refusal).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroups as _cgroups
from .policy import SandboxPolicy
from .seccomp import seccomp_available

__all__ = ["JAIL_PLUGIN_DIR", "Layers", "detect_layers", "zygote_command"]

JAIL_PLUGIN_DIR = "/plugin"
JAIL_RUNTIME_PARENT = "/rt"
JAIL_RUNTIME_PKG = "_pyard_rt"
JAIL_SDK = "/sdk"
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
# SDK files that exist in the jail: the runtime surface only (STDLIB-only modules).
SDK_RUNTIME_FILES = ("plugyard_sdk/__init__.py", "plugyard_sdk/ctx_methods.py", "plugyard_sdk/_local.py",
                     "plugyard_sdk/context.py", "plugyard_sdk/routing.py", "plugyard_sdk/sbh.py",
                     "plugyard_sdk/plugin.py", "plugyard_sdk/_collect.py", "plugyard_sdk/signing.py",
                     "plugyard_sdk/plugin_builtins.py")
SDK_RUNTIME_DIRS = ("ops_center_sdk", "src/ext/sdk")


@dataclass(frozen=True)
class Layers:
    process: bool = True
    namespaces: bool = False
    rlimits: bool = True
    seccomp: bool = False
    import_allowlist: bool = True
    audit_hooks: bool = True
    disable_userns: bool = False  # part of `namespaces`: bwrap --disable-userns is in the argv
    cgroups: bool = False  # a second wall, reported only: see the module docstring
    notes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, bool]:
        """The layers strict mode requires (second walls are fields, not keys, here)."""
        return {"process": self.process, "namespaces": self.namespaces, "rlimits": self.rlimits,
                "seccomp": self.seccomp, "import_allowlist": self.import_allowlist,
                "audit_hooks": self.audit_hooks}

    def missing(self) -> list[str]:
        return [name for name, on in self.as_dict().items() if not on]


@functools.lru_cache(maxsize=1)
def sdk_root() -> Path:
    """The directory holding `plugyard_sdk` (installed editable, or the repo's `sdk/`)."""
    spec = importlib.util.find_spec("plugyard_sdk")
    if spec and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).resolve().parent
    return Path(__file__).resolve().parents[2] / "sdk"


@functools.lru_cache(maxsize=4)
def _shared_libraries(python: str) -> tuple[str, ...]:
    """Every shared library the interpreter and its stdlib extension modules load (via ldd)."""
    prefix = Path(python).resolve().parents[1]
    targets = [python] + [str(p) for p in prefix.glob("lib/python3*/lib-dynload/*.so")]
    libs: set[str] = set()
    ldd = shutil.which("ldd") or "/usr/bin/ldd"
    for i in range(0, len(targets), 40):
        try:
            out = subprocess.run([ldd, *targets[i:i + 40]], capture_output=True, text=True, timeout=30,
                                 env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for m in re.finditer(r"(?:=>\s*)?(/\S+\.so[^\s]*)\s+\(0x", out):
            if not m.group(1).startswith(str(prefix)):
                libs.add(m.group(1))
    return tuple(sorted(libs))


def _python_binds(python: str) -> list[str]:
    prefix = Path(python).resolve().parents[1]
    stdlib = next(prefix.glob("lib/python3*/os.py")).parent
    args = ["--ro-bind", python, python, "--ro-bind", str(stdlib), str(stdlib),
            "--tmpfs", str(stdlib / "site-packages")]
    for lib in prefix.glob("lib/libpython3*.so*"):
        args += ["--ro-bind", str(lib), str(lib)]
    for lib in _shared_libraries(python):
        if os.path.exists(lib):
            args += ["--ro-bind", os.path.realpath(lib), lib]
    return args


def _sdk_binds() -> list[str]:
    root = sdk_root()
    args: list[str] = []
    for rel in SDK_RUNTIME_FILES:
        args += ["--ro-bind", str(root / rel), f"{JAIL_SDK}/{rel}"]
    for rel in SDK_RUNTIME_DIRS:
        args += ["--ro-bind", str(root / rel), f"{JAIL_SDK}/{rel}"]
    return args


def bootstrap(runtime_parent: str, runtime_pkg: str, sdk: str, fd: int) -> str:
    return (f"import sys;sys.path[:]=[{runtime_parent!r},{sdk!r}]+[p for p in sys.path if p];"
            f"from {runtime_pkg}.zygote import main;main({fd})")


def zygote_command(policy: SandboxPolicy, layers: Layers, plugin_dir: str, fd: int) -> tuple[list[str], str]:
    """(argv, plugin dir as the zygote sees it)."""
    python = policy.python
    flags = ["-I", "-S", "-B"]
    if not layers.namespaces:
        code = bootstrap(str(RUNTIME_DIR.parent), RUNTIME_DIR.name, str(sdk_root()), fd)
        return [python, *flags, "-c", code], plugin_dir
    argv = [*_bwrap_prefix(policy, layers.disable_userns), "--hostname", "sandbox", *_python_binds(python),
            "--ro-bind", str(RUNTIME_DIR), f"{JAIL_RUNTIME_PARENT}/{JAIL_RUNTIME_PKG}", *_sdk_binds(),
            "--ro-bind", plugin_dir, JAIL_PLUGIN_DIR, "--chdir", JAIL_PLUGIN_DIR, "--remount-ro", "/",
            python, *flags, "-c", bootstrap(JAIL_RUNTIME_PARENT, JAIL_RUNTIME_PKG, JAIL_SDK, fd)]
    return argv, JAIL_PLUGIN_DIR


def _bwrap_prefix(policy: SandboxPolicy, disable_userns: bool) -> list[str]:
    """The namespace and identity flags of every jail, and of the trial run that proves them."""
    # --disable-userns needs --unshare-user, which every jail has.
    return [policy.bwrap_path, "--unshare-all", "--unshare-user",
            *(["--disable-userns"] if disable_userns else []), "--die-with-parent", "--new-session",
            "--clearenv", "--cap-drop", "ALL", "--uid", "65534", "--gid", "65534"]


def _bwrap_offers_disable_userns(bwrap: str) -> bool:
    """Whether this bubblewrap (0.8+) knows --disable-userns: its --help lists it."""
    try:
        proc = subprocess.run([bwrap, "--help"], capture_output=True, timeout=10, env={})
    except (OSError, subprocess.SubprocessError):
        return False
    return b"--disable-userns" in proc.stdout + proc.stderr


def _bwrap_works(policy: SandboxPolicy, disable_userns: bool = False) -> tuple[bool, str]:
    if not os.path.exists(policy.bwrap_path):
        return False, f"{policy.bwrap_path} not found"
    argv = [*_bwrap_prefix(policy, disable_userns), *_python_binds(policy.python), "--remount-ro", "/",
            policy.python, "-I", "-S", "-c", "pass"]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=20, env={})
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bubblewrap failed to start: {exc}"
    if proc.returncode != 0:
        return False, "bubblewrap cannot create namespaces here: " + proc.stderr.decode(errors="replace")[-300:]
    return True, "bubblewrap with user, pid, net, ipc, uts, cgroup namespaces"


@functools.lru_cache(maxsize=8)
def detect_layers(policy: SandboxPolicy) -> Layers:
    """Probe once per policy: a real trial run of the jail, and whether filters compile."""
    notes: dict[str, str] = {}
    namespaces = disable_userns = False
    if policy.use_bwrap is not False and sys.platform.startswith("linux"):
        namespaces, disable_userns, notes["namespaces"], userns_note = _detect_namespaces(policy)
        if namespaces:
            notes["disable_userns"] = userns_note
    else:
        notes["namespaces"] = "disabled by policy"
    seccomp = False
    if policy.use_seccomp is not False:
        seccomp, notes["seccomp"] = seccomp_available()
        if seccomp:
            try:
                from .seccomp import compile_filters  # needs pyseccomp, which a host may lack

                compile_filters()
            except Exception as exc:
                seccomp, notes["seccomp"] = False, f"cannot compile filters: {exc}"
    else:
        notes["seccomp"] = "disabled by policy"
    cgroups, cgroups_note = _cgroups.probe() if sys.platform.startswith("linux") else (False, "not Linux")
    notes["cgroups"] = f"{'on' if cgroups else 'off'}: {cgroups_note}"  # as disable_userns: on/off first
    if os.geteuid() == 0:
        second = ("; a cgroup pids.max can be the second wall here" if cgroups
                  else " alone (no cgroup v2 pids limit here: see cgroups)")
        notes["rlimits"] = ("running as root: the kernel does not enforce RLIMIT_NPROC for uid 0, "
                            f"so 'no new processes' rests on seccomp{second}; AS/CPU/FSIZE/NOFILE apply")
    return Layers(namespaces=namespaces, seccomp=seccomp, disable_userns=disable_userns, cgroups=cgroups,
                  notes=notes)


def _detect_namespaces(policy: SandboxPolicy) -> tuple[bool, bool, str, str]:
    """(namespaces work, --disable-userns on, namespaces note, disable_userns note)."""
    if not (os.path.exists(policy.bwrap_path) and _bwrap_offers_disable_userns(policy.bwrap_path)):
        works, note = _bwrap_works(policy)
        return works, False, note, "off: this bubblewrap has no --disable-userns (it came in 0.8)"
    works, note = _bwrap_works(policy, disable_userns=True)
    if works:
        return True, True, note, "on: the jail cannot create user namespaces (bubblewrap --disable-userns)"
    # The jail without the flag is still the jail: fall back, and say why.
    works, plain_note = _bwrap_works(policy)
    return works, False, plain_note, f"off: a trial run with --disable-userns failed ({note[-200:]})"
