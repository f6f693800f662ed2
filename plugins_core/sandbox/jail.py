"""The jail: which isolation layers this machine gives, and the command that starts a zygote.

With bubblewrap the zygote runs with every namespace unshared (no network at all, its own
PID/IPC/UTS/user/cgroup namespaces), an empty environment, a new session, no
capabilities, and a root filesystem that is an empty read-only tmpfs holding only: the
interpreter binary, libpython and the shared libraries they load, the stdlib (with
site-packages hidden), the SDK runtime files, the sandbox runtime, and the plugin's own
directory — all read-only. No /proc, no /dev, no /etc, no project source.
Without bubblewrap it is still a separate process with an empty environment; the other
layers (rlimits, seccomp, import guard) remain, and `layers()` says what is missing.
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

from .policy import SandboxPolicy
from .seccomp import seccomp_available

__all__ = ["JAIL_PLUGIN_DIR", "Layers", "detect_layers", "zygote_command"]

JAIL_PLUGIN_DIR = "/plugin"
JAIL_RUNTIME_PARENT = "/rt"
JAIL_RUNTIME_PKG = "_pyard_rt"
JAIL_SDK = "/sdk"
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
# SDK files that exist in the jail: the runtime surface only (STDLIB-only modules).
SDK_RUNTIME_FILES = ("plugyard_sdk/__init__.py", "plugyard_sdk/context.py", "plugyard_sdk/sbh.py",
                     "plugyard_sdk/plugin.py", "plugyard_sdk/_collect.py", "plugyard_sdk/signing.py")
SDK_RUNTIME_DIRS = ("ops_center_sdk", "src/ext/sdk")


@dataclass(frozen=True)
class Layers:
    process: bool = True
    namespaces: bool = False
    rlimits: bool = True
    seccomp: bool = False
    import_allowlist: bool = True
    audit_hooks: bool = True
    notes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, bool]:
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
    argv = [policy.bwrap_path, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--clearenv", "--cap-drop", "ALL", "--uid", "65534", "--gid", "65534",
            "--hostname", "sandbox", *_python_binds(python),
            "--ro-bind", str(RUNTIME_DIR), f"{JAIL_RUNTIME_PARENT}/{JAIL_RUNTIME_PKG}", *_sdk_binds(),
            "--ro-bind", plugin_dir, JAIL_PLUGIN_DIR, "--chdir", JAIL_PLUGIN_DIR, "--remount-ro", "/",
            python, *flags, "-c", bootstrap(JAIL_RUNTIME_PARENT, JAIL_RUNTIME_PKG, JAIL_SDK, fd)]
    return argv, JAIL_PLUGIN_DIR


def _bwrap_works(policy: SandboxPolicy) -> tuple[bool, str]:
    if not os.path.exists(policy.bwrap_path):
        return False, f"{policy.bwrap_path} not found"
    argv = [policy.bwrap_path, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--clearenv", "--cap-drop", "ALL", "--uid", "65534", "--gid", "65534",
            *_python_binds(policy.python), "--remount-ro", "/", policy.python, "-I", "-S", "-c", "pass"]
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
    namespaces = False
    if policy.use_bwrap is not False and sys.platform.startswith("linux"):
        namespaces, notes["namespaces"] = _bwrap_works(policy)
    else:
        notes["namespaces"] = "disabled by policy"
    seccomp = False
    if policy.use_seccomp is not False:
        seccomp, notes["seccomp"] = seccomp_available()
        if seccomp:
            try:
                from .seccomp import compile_filters

                compile_filters()
            except Exception as exc:
                seccomp, notes["seccomp"] = False, f"cannot compile filters: {exc}"
    else:
        notes["seccomp"] = "disabled by policy"
    if os.geteuid() == 0:
        notes["rlimits"] = ("running as root: the kernel does not enforce RLIMIT_NPROC for uid 0, "
                            "so 'no new processes' rests on seccomp; AS/CPU/FSIZE/NOFILE apply")
    return Layers(namespaces=namespaces, seccomp=seccomp, notes=notes)
