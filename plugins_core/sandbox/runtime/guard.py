"""The Python-level layers: import allowlist, filtered module view, builtins, audit tripwire.

These are *not* the sandbox's walls — CPython cannot be made safe from inside (`__globals__`
and friends reach everything). The walls are the jail, seccomp and rlimits. What this
module adds: the plugin gets only allowlisted modules, as filtered copies that do not hand
out `os`/`sys` as attributes; modules already in `sys.modules` are refused just the same;
once locked, no new module can be loaded from disk by any route (meta-path finder); and a
PEP 578 audit hook trips on the obvious escape moves, which recycles the worker.
"""

from __future__ import annotations

import builtins
import os
import sys
import types
from collections.abc import Callable
from typing import Any

# The zygote imports this module after it has preloaded the SDK's runtime modules.
from plugyard_sdk.plugin_builtins import PLUGIN_BUILTINS

__all__ = ["Guard", "SandboxViolation"]

# Names the guides use without importing them (the Ops-Center guide's `datetime.now()`, the
# SBH guide's `json.dumps`): one list, the SDK's, so local runs and `validate` agree with us.
_COMPAT_BUILTINS = tuple(PLUGIN_BUILTINS)
_REMOVED_BUILTINS = ("breakpoint", "input", "help", "exit", "quit", "copyright", "credits", "license", "open")
_HIDDEN_ATTRS = ("__loader__", "__spec__", "__builtins__", "__file__", "__cached__", "__path__")
# Attribute reads CPython audits that lead from plugin code to frames of the runtime.
_FRAME_ATTRS = frozenset({"gi_frame", "cr_frame", "ag_frame", "tb_frame", "f_back"})
_TRIP_EVENTS = (
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg",
    "subprocess.Popen", "socket.", "ctypes.", "sys._current_frames", "sys.settrace",
    "sys.setprofile", "sys.addaudithook", "gc.get_referrers", "gc.get_referents", "gc.get_objects",
    "resource.setrlimit", "resource.prlimit", "os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod",
    "os.chown", "os.symlink", "os.link", "os.truncate", "os.putenv", "os.unsetenv", "mmap.", "signal.",
    "pty.", "fcntl.", "code.__new__", "function.__new__", "builtins.input", "cpython.run_",
    "object.__setattr__", "object.__delattr__",
    "os.listdir", "os.scandir", "os.chdir", "shutil.", "tempfile.", "urllib.Request", "sqlite3.",
    "import",
)


class SandboxViolation(RuntimeError):
    """The audit tripwire fired: the plugin tried something no plugin needs."""


class _LogWriter:
    """`sys.stdout` stand-in: everything written becomes captured log lines."""

    def __init__(self, sink: Callable[[str, str], None], level: str) -> None:
        self._sink, self._level, self._buf = sink, level, ""

    def write(self, text: str) -> int:
        self._buf += str(text)
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self._sink(self._level, line)
        if len(self._buf) > 4096:
            self._sink(self._level, self._buf)
            self._buf = ""
        return len(text)

    def flush(self) -> None:
        if self._buf:
            self._sink(self._level, self._buf)
            self._buf = ""


class Guard:
    """One per worker process: owns the plugin's module table and its builtins."""

    def __init__(self, plugin_dir: str, allowlist: frozenset[str], sources: dict[str, Any]) -> None:
        self.plugin_dir = plugin_dir
        self.allowlist = allowlist
        self.sources = sources  # relpath -> (source text, code object | SyntaxError)
        self.modules: dict[str, types.ModuleType] = {}
        self._proxies: dict[str, types.ModuleType] = {}
        self.active = False  # True only while plugin code runs
        self.tripped: list[str] = []
        self.uses_asyncio = False
        self.log: Callable[[str, str], None] = lambda level, msg: None
        self.builtins = self._make_builtins()

    # ---- the allowlist
    def allowed(self, name: str) -> bool:
        """Allowed when the module or one of its parents is allowlisted (as the upload scan says)."""
        parts = name.split(".")
        return any(".".join(parts[:i]) in self.allowlist for i in range(1, len(parts) + 1))

    def _proxy(self, name: str) -> types.ModuleType:
        """A filtered copy of a real module: no module-valued attributes that are not allowed."""
        if name in self._proxies:
            return self._proxies[name]
        real = sys.modules[name]
        proxy = types.ModuleType(name, getattr(real, "__doc__", None))
        self._proxies[name] = proxy
        for key, value in list(vars(real).items()):
            if key in _HIDDEN_ATTRS:
                continue
            if isinstance(value, types.ModuleType):
                if not self.allowed(value.__name__):
                    continue
                value = self._proxy(value.__name__)
            setattr(proxy, key, value)
        return proxy

    # ---- the plugin's own modules
    def _plugin_file(self, name: str) -> tuple[str, bool] | None:
        base = name.replace(".", "/")
        if base + ".py" in self.sources:
            return base + ".py", False
        if base + "/__init__.py" in self.sources:
            return base + "/__init__.py", True
        if any(p.startswith(base + "/") for p in self.sources):
            return "", True  # a directory without __init__.py: a namespace package
        return None

    def is_plugin_module(self, name: str) -> bool:
        return name in self.modules or self._plugin_file(name) is not None

    def load_plugin_module(self, name: str) -> types.ModuleType:
        if name in self.modules:
            return self.modules[name]
        found = self._plugin_file(name)
        if found is None:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        if "." in name:
            parent = self.load_plugin_module(name.rsplit(".", 1)[0])
        else:
            parent = None
        relpath, is_package = found
        module = types.ModuleType(name)
        module.__file__ = relpath or name.replace(".", "/")
        module.__package__ = name if is_package else name.rpartition(".")[0]
        module.__builtins__ = self.builtins  # type: ignore[attr-defined]
        self.modules[name] = module
        if parent is not None:
            setattr(parent, name.rsplit(".", 1)[1], module)
        if relpath:
            _source, code = self.sources[relpath]
            if isinstance(code, BaseException):
                del self.modules[name]
                raise code
            try:
                exec(code, module.__dict__)
            except BaseException:
                self.modules.pop(name, None)
                raise
        return module

    # ---- import for plugin code
    def _import(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level:
            package = (globals or {}).get("__package__") or ""
            parts = package.split(".") if package else []
            if level - 1 > len(parts) or not parts:
                raise ImportError("attempted relative import beyond the plugin")
            base = ".".join(parts[: len(parts) - (level - 1)])
            name = f"{base}.{name}" if name else base
        top = name.split(".")[0]
        if self.is_plugin_module(top):
            module = self.load_plugin_module(name)
            for item in fromlist or ():
                if item != "*" and not hasattr(module, item) and self.is_plugin_module(f"{name}.{item}"):
                    self.load_plugin_module(f"{name}.{item}")
            return module if fromlist else self.modules[top]
        if not self.allowed(name) or name not in sys.modules:
            raise ImportError(f"import of '{name}' is not allowed in the sandbox")
        if top == "asyncio":
            self.uses_asyncio = True
        for item in fromlist or ():
            sub = f"{name}.{item}"
            if item != "*" and sub in sys.modules and not self.allowed(sub):
                raise ImportError(f"import of '{sub}' is not allowed in the sandbox")
        if fromlist:
            return self._proxy(name)
        return self._proxy(top) if self.allowed(top) else self._proxy(name)

    def _open(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        """Read-only access to the plugin's own files; nothing else exists for the plugin."""
        if not isinstance(file, str) or any(c in mode for c in "wax+"):
            raise PermissionError("the sandbox allows only reading the plugin's own files")
        if not self._inside(file):
            raise PermissionError("the sandbox allows only reading the plugin's own files")
        path = os.path.normpath(os.path.join(self.plugin_dir, file))
        return builtins.open(path, mode, *args, **kwargs)

    def _print(self, *args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None,
               flush: bool = False) -> None:
        text = (sep if sep is not None else " ").join(str(a) for a in args)
        for line in text.split("\n"):
            self.log("print", line)

    def _make_builtins(self) -> dict[str, Any]:
        table = dict(vars(builtins))
        for name in _REMOVED_BUILTINS:
            table.pop(name, None)
        table["__import__"] = self._import
        table["open"] = self._open
        table["print"] = self._print
        for name, value in PLUGIN_BUILTINS.items():
            # A module is the filtered copy an import would give, not the real one.
            table[name] = self._proxy(value.__name__) if isinstance(value, types.ModuleType) else value
        return table

    # ---- lockdown
    def lock(self, sink: Callable[[str, str], None]) -> None:
        """From here on: no new modules from disk, stdout is captured, the tripwire is armed."""
        self.log = sink
        sys.meta_path.insert(0, _RefuseNewModules(self))
        sys.path_hooks.clear()
        sys.path_importer_cache.clear()
        sys.stdout = _LogWriter(sink, "print")  # type: ignore[assignment]
        sys.stderr = _LogWriter(sink, "stderr")  # type: ignore[assignment]
        sys.addaudithook(self._audit)

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "import":
            if args and isinstance(args[0], str) and args[0] not in sys.modules:
                self._trip(f"import {args[0]}")
            return
        if event == "open":
            path = args[0] if args else None
            mode = args[1] if len(args) > 1 else "r"
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if isinstance(path, (str, bytes, int)) and (writing or not self._inside(path)):
                self._trip(f"open {path!r}")
            return
        if event == "object.__getattr__":
            if len(args) > 1 and args[1] in _FRAME_ATTRS:
                self._trip(f"frame access .{args[1]}")
            return
        if event == "exec" or event == "compile":
            return
        if event.startswith(_TRIP_EVENTS):
            self._trip(event + (f" {args[1]}" if event.startswith("object.") and len(args) > 1 else ""))

    def _inside(self, path: Any) -> bool:
        if not isinstance(path, str):
            return False
        full = os.path.normpath(os.path.join(self.plugin_dir, path))
        return (full + "/").startswith(self.plugin_dir.rstrip("/") + "/")

    def _trip(self, what: str) -> None:
        self.tripped.append(what)
        raise SandboxViolation(f"sandbox: '{what}' is not allowed")

    def flush(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _LogWriter):
                stream.flush()


class _RefuseNewModules:
    """Meta-path finder: after lockdown nothing new is imported, by `import` or `importlib`."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        raise ImportError(f"import of '{name}' is not allowed in the sandbox")
