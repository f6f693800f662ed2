"""Static checks of a plugin's Python files: they parse, import only what the sandbox allows,
and name nothing undefined.

This is the early, friendly half of the import barrier: an upload that would fail in the
sandbox is refused with file and line. The sandbox enforces the same
`SANDBOX_IMPORT_ALLOWLIST` at run time; runtime-only barriers (``open``, ``eval``…) stay
there. Undefined names (pyflakes, with the builtins the sandbox provides) are warnings,
``undefined_name``: such code loads, and fails only when the line runs. Standard library
only, plus pyflakes in the checker child.

The sources are untrusted and parsing them is not cheap: 2 MB of ``1+1+1…`` (a few kB
zipped) costs `ast.parse` over 400 MB. So the scan keeps three limits. A ``.py`` file over
`MAX_PY_FILE_BYTES`, or all of them together over `MAX_PY_TOTAL_BYTES`, is refused before
anything is parsed. The parse and the walk run in a child interpreter (``python -I -S``,
this module's `_child_main`) whose address space is capped at `SCAN_MEMORY_LIMIT`. And the
caller waits at most ``timeout`` seconds, the sandbox's load timeout. A file the child
cannot finish becomes a ``code_too_complex`` problem naming it, never a traceback.
"""

from __future__ import annotations

import ast
import base64
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .plugin_builtins import PLUGIN_BUILTINS
from .problems import Problem, ProblemCode

__all__ = [
    "MAX_PY_FILE_BYTES", "MAX_PY_TOTAL_BYTES", "SANDBOX_IMPORT_ALLOWLIST", "SCAN_MEMORY_LIMIT",
    "SANDBOX_EXTRA_BUILTINS", "SCAN_TIMEOUT_S", "check_python_files", "is_allowed_import",
]  # fmt: skip

MAX_PY_FILE_BYTES: Final = 256 * 1024
MAX_PY_TOTAL_BYTES: Final = 2 * 1024 * 1024
# The checker child's address space. The densest legal file under MAX_PY_FILE_BYTES
# (131 072 lines of `a`) peaks near 245 MB and still fits; real code is far below (the
# stdlib's 229 kB _pydecimal.py: 27 MB); `1+1+…` hits the parser's depth limit first.
SCAN_MEMORY_LIMIT: Final = 256 * 1024 * 1024
SCAN_TIMEOUT_S: Final = 10.0  # the sandbox's load_timeout_s: an upload waits no longer
# Kept of each kind (problems, warnings) per package; the rest are counted by code, so a
# file of 20 000 `import os` lines can't make the child's answer, or the API's, a bomb too.
_MAX_REPORTED: Final = 100
_EXIT_OUT_OF_MEMORY: Final = 3  # the child's status when a MemoryError escapes a file
_TOO_COMPLEX: Final = "too deeply nested or too large to check"

SANDBOX_IMPORT_ALLOWLIST: frozenset[str] = frozenset(
    {
        # the SBH guide's safe modules
        "json", "datetime", "time", "uuid", "hashlib", "base64", "urllib.parse", "collections",
        "itertools", "functools", "re", "math", "random", "string",
        # pure-computation modules both guides' examples need (typing, async handlers, ...)
        "__future__", "typing", "dataclasses", "enum", "decimal", "fractions", "statistics",
        "copy", "abc", "textwrap", "html", "operator", "numbers", "asyncio", "contextlib",
        # verifying signed requests in a route (hashlib is already on the guide's list)
        "hmac",
        # the SDK, under all three names the guides import it by
        "src.ext.sdk", "ops_center_sdk", "plugyard_sdk",
    }
)  # fmt: skip

# Names the jail adds to a plugin's builtins (`plugyard_sdk.plugin_builtins`, which the
# sandbox's guard uses too; tests/sdk/test_validate_parity.py checks): the undefined-name
# pass knows them, so a guide's `datetime.now()` or `json.dumps()` with no import passes.
SANDBOX_EXTRA_BUILTINS: frozenset[str] = frozenset(PLUGIN_BUILTINS)

# asyncio is allowed for `async def` handlers; these parts of it need processes or sockets.
_ASYNCIO_BLOCKED = frozenset(
    {
        "subprocess", "create_subprocess_exec", "create_subprocess_shell", "open_connection",
        "start_server", "open_unix_connection", "start_unix_server",
    }
)  # fmt: skip


def is_allowed_import(module: str, own_modules: frozenset[str] = frozenset()) -> bool:
    """Whether ``import module`` passes: it or a parent is allowlisted, or it is the plugin's own."""
    parts = module.split(".")
    if parts[0] in own_modules:
        return True
    return any(".".join(parts[:i]) in SANDBOX_IMPORT_ALLOWLIST for i in range(1, len(parts) + 1))


def _own_modules(files: Mapping[str, bytes]) -> frozenset[str]:
    names = set()
    for path in files:
        if path.endswith(".py"):
            head, _, rest = path.partition("/")
            names.add(head if rest else head[:-3])
    return frozenset(names)


def _scan(path: str, tree: ast.AST, own: frozenset[str]) -> tuple[list[Problem], list[Problem]]:
    problems: list[Problem] = []
    warnings: list[Problem] = []

    def refuse(node: ast.AST, what: str) -> None:
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        problems.append(
            Problem(
                where,
                ProblemCode.FORBIDDEN_IMPORT,
                f"{what} is not allowed in the sandbox; allowed modules: "
                + ", ".join(sorted(SANDBOX_IMPORT_ALLOWLIST)),
            )
        )

    def blocked(node: ast.AST, name: str) -> None:
        warnings.append(
            Problem(
                f"{path}:{getattr(node, 'lineno', 0)}",
                ProblemCode.SANDBOX_BLOCKED,
                f"asyncio.{name} needs processes or sockets, which the sandbox blocks",
            )
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not is_allowed_import(alias.name, own):
                    refuse(node, f"import {alias.name}")
                elif alias.name.startswith("asyncio.") and alias.name[8:] in _ASYNCIO_BLOCKED:
                    blocked(node, alias.name[8:])
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
            for alias in node.names:
                if not (
                    is_allowed_import(module, own)
                    or is_allowed_import(f"{module}.{alias.name}", own)
                ):
                    refuse(node, f"from {module} import {alias.name}")
                elif module == "asyncio" and alias.name in _ASYNCIO_BLOCKED:
                    blocked(node, alias.name)
        elif isinstance(node, ast.Name) and node.id == "__import__":
            refuse(node, "__import__")
        elif isinstance(node, ast.Attribute):
            if node.attr == "__import__":
                refuse(node, "__import__")
            elif (
                isinstance(node.value, ast.Name)
                and node.value.id == "asyncio"
                and node.attr in _ASYNCIO_BLOCKED
            ):
                blocked(node, node.attr)
    return problems, warnings


def _undefined_names(path: str, tree: ast.AST) -> list[Problem]:
    """pyflakes' undefined names in one parsed file, as ``undefined_name`` warnings."""
    try:
        from pyflakes import checker, messages
    except ImportError:  # the child found no pyflakes (see `_pyflakes_dir`): no such pass
        return []
    kinds = (messages.UndefinedName, messages.UndefinedLocal, messages.UndefinedExport)
    try:
        found = checker.Checker(tree, filename=path, builtins=SANDBOX_EXTRA_BUILTINS)
    except RecursionError:  # code the parser took but pyflakes' walk cannot: a hint less, not a problem
        return []
    return [
        Problem(f"{path}:{m.lineno}", ProblemCode.UNDEFINED_NAME, (m.message % m.message_args) + "; it fails when this line runs")
        for m in sorted(found.messages, key=lambda m: m.lineno)
        if isinstance(m, kinds)
    ]


def _check_source(
    path: str, data: bytes, own: frozenset[str]
) -> tuple[list[Problem], list[Problem]]:
    try:
        tree = ast.parse(data, filename=path)
        problems, warnings = _scan(path, tree, own)
        return problems, warnings + _undefined_names(path, tree)
    except SyntaxError as exc:
        return [Problem(f"{path}:{exc.lineno or 0}", ProblemCode.SYNTAX_ERROR, str(exc.msg))], []
    except ValueError as exc:  # e.g. a NUL byte in the source
        return [Problem(path, ProblemCode.SYNTAX_ERROR, f"cannot be parsed: {exc}")], []
    except RecursionError:
        why = "the parser's nesting limit was reached"
    except MemoryError:
        why = "the parser ran out of memory"
    return [Problem(path, ProblemCode.CODE_TOO_COMPLEX, f"{_TOO_COMPLEX} ({why})")], []


def _package_field() -> str:
    # Imported here, not at the top: the checker child loads this module, and `_archive`
    # would bring zipfile and tarfile into its start-up (some 13 ms of about 20).
    from ._archive import ARCHIVE_FIELD

    return ARCHIVE_FIELD


@dataclass
class _Capped:
    """Problems of one kind: the first `_MAX_REPORTED` kept, the rest only counted by code."""

    kept: list[Problem] = field(default_factory=list)
    omitted: Counter[str] = field(default_factory=Counter)

    def add(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            if len(self.kept) < _MAX_REPORTED:
                self.kept.append(problem)
            else:
                self.omitted[problem.code] += 1

    def result(self) -> list[Problem]:
        more = [
            Problem(_package_field(), code, f"and {count} more like these, not shown")
            for code, count in sorted(self.omitted.items())
        ]
        return self.kept + more


# --- the checker child -------------------------------------------------------------------
# Runs as `python -I -S -c _CHILD_PROGRAM <memory limit> <cpu seconds> <package> <dir> <pyflakes dir>`.
# The limits are set before a byte of the request is read. An empty package object
# stands in for the package's __init__ (the plugin runtime surface), which would double
# the start-up time: only this module and `problems` are loaded.
_CHILD_PROGRAM: Final = """\
import importlib, sys, types
limit, cpu_s, package, package_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
if sys.argv[5]:  # -S leaves site-packages out; pyflakes alone is put back
    sys.path.append(sys.argv[5])
if sys.platform == "linux":  # the server; on a publisher's laptop only the timeout holds
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
stub = types.ModuleType(package)
stub.__path__ = [package_dir]
sys.modules[package] = stub
importlib.import_module(package + "._scan")._child_main()
"""


def _emit(event: Mapping[str, Any]) -> None:
    # Flushed at once: a "start" must be in the pipe before the parse that may kill us.
    sys.stdout.buffer.write(json.dumps(event).encode("ascii") + b"\n")
    sys.stdout.buffer.flush()


def _child_main() -> None:
    """The checker child: ``{"own": [...], "files": {path: base64}}`` in, JSON lines out.

    For each file, in order, a ``{"start": path}`` line, then ``{"done": path, "problems":
    [...], "warnings": [...], "omitted": {...}}``; a child that dies mid-file leaves its
    ``start`` unanswered, which is how the parent knows which file to blame.
    """
    try:
        request = json.loads(sys.stdin.buffer.read())
        own = frozenset(request["own"])
        room = {"problems": _MAX_REPORTED, "warnings": _MAX_REPORTED}
        for path, text in sorted(request["files"].items()):
            _emit({"start": path})
            found = _check_source(path, base64.b64decode(text), own)
            event: dict[str, Any] = {"done": path, "omitted": {}}
            for kind, items in zip(("problems", "warnings"), found, strict=True):
                shown = items[: room[kind]]
                room[kind] -= len(shown)
                event[kind] = [p.as_dict() for p in shown]
                event["omitted"][kind] = Counter(p.code for p in items[len(shown) :])
            _emit(event)
    except MemoryError:
        os._exit(_EXIT_OUT_OF_MEMORY)


# --- the parent side ---------------------------------------------------------------------
@dataclass
class _Run:
    """What one checker child got through before it exited."""

    done: list[str] = field(default_factory=list)
    culprit: str | None = None  # the file it was on when it stopped early
    failure: str | None = None  # why it stopped early; None if it finished


def _why_stopped(status: int) -> str:
    if status == _EXIT_OUT_OF_MEMORY:
        return f"checking it needs more than {SCAN_MEMORY_LIMIT >> 20} MiB of memory"
    if status == -signal.SIGXCPU:
        return "checking it used too much CPU time"
    if status < 0:
        return f"the checker was killed by {signal.Signals(-status).name}"
    return f"the checker failed with exit status {status}"


def _pyflakes_dir() -> str:
    """The folder holding the ``pyflakes`` package, found without importing it ('' if none)."""
    import importlib.util

    spec = importlib.util.find_spec("pyflakes")
    if spec is None or not spec.submodule_search_locations:
        return ""
    return os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))


def _run_child(
    sources: Mapping[str, bytes],
    own: frozenset[str],
    left: float,
    timeout: float,
    problems: _Capped,
    warnings: _Capped,
) -> _Run:
    request = {
        "own": sorted(own),
        "files": {path: base64.b64encode(data).decode("ascii") for path, data in sources.items()},
    }
    argv = [
        sys.executable, "-I", "-S", "-c", _CHILD_PROGRAM, str(SCAN_MEMORY_LIMIT),
        str(math.ceil(left) + 1), __package__ or "", os.path.dirname(os.path.abspath(__file__)),
        _pyflakes_dir(),
    ]  # fmt: skip
    # The worker's environment holds the server's secrets; the checker needs none of them.
    env = {
        key: os.environ[key]
        for key in ("PATH", "LD_LIBRARY_PATH", "SYSTEMROOT")
        if key in os.environ
    }
    run = _Run()
    if not sys.executable:  # an embedding host that can't name its interpreter
        run.failure = "no Python interpreter to run the checker"
        return run
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(request).encode("ascii"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=left,
            env=env,
            check=False,
        )
        output = done.stdout
        run.failure = _why_stopped(done.returncode) if done.returncode else None
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout or b""
        run.failure = f"checking took longer than the {timeout:g} s allowed"
    except OSError as exc:
        run.failure = f"the checker could not start ({exc.strerror or exc})"
        return run
    for line in output.splitlines():
        try:
            event = json.loads(line)
            if "start" in event:
                run.culprit = event["start"]
                continue
            problems.add(Problem(**p) for p in event["problems"])
            warnings.add(Problem(**p) for p in event["warnings"])
            problems.omitted.update(event["omitted"]["problems"])
            warnings.omitted.update(event["omitted"]["warnings"])
            run.done.append(event["done"])
            run.culprit = None
        except (ValueError, KeyError, TypeError):
            break  # the line a dying child was writing
    if run.culprit is None and len(run.done) == len(sources):
        run.failure = None  # every file answered; how the child exited no longer matters
    else:
        run.failure = run.failure or "the checker stopped early"
    return run


def _check_in_children(
    sources: dict[str, bytes],
    own: frozenset[str],
    timeout: float,
    problems: _Capped,
    warnings: _Capped,
) -> None:
    # A child that dies is restarted on the files after the one it died on, until the
    # deadline: a publisher still hears about every other file in one upload.
    deadline = time.monotonic() + timeout
    while sources:
        left = deadline - time.monotonic()
        if left <= 0:
            names = ", ".join(list(sources)[:3]) + (", …" if len(sources) > 3 else "")
            count = (
                "1 Python file was" if len(sources) == 1 else f"{len(sources)} Python files were"
            )
            message = f"{count} not checked in the {timeout:g} s allowed: {names}"
            problems.add([Problem(_package_field(), ProblemCode.CODE_TOO_COMPLEX, message)])
            return
        run = _run_child(sources, own, left, timeout, problems, warnings)
        for path in run.done:
            del sources[path]
        if run.failure is None:
            return
        if run.culprit is not None:
            message = f"{_TOO_COMPLEX} ({run.failure})"
            problems.add([Problem(run.culprit, ProblemCode.CODE_TOO_COMPLEX, message)])
            del sources[run.culprit]
        elif not run.done:  # it died before any file, so no file is to blame
            message = f"the Python files could not be checked: {run.failure}"
            problems.add([Problem(_package_field(), ProblemCode.CODE_TOO_COMPLEX, message)])
            return
        # else it died between two files: go on from the next


def check_python_files(
    files: Mapping[str, bytes], *, timeout: float = SCAN_TIMEOUT_S
) -> tuple[list[Problem], list[Problem]]:
    """Parse every ``.py`` file and scan its imports: ``(problems, warnings)``.

    Problems are placed ``path:line``: syntax errors, and imports outside the allowlist
    (plus ``__import__``); relative imports and the plugin's own top-level modules pass.
    A file over `MAX_PY_FILE_BYTES` is refused unparsed, and so, on the package, are
    Python files together over `MAX_PY_TOTAL_BYTES`. Parsing happens in a child process
    under `SCAN_MEMORY_LIMIT`; a file it cannot finish within ``timeout`` seconds (all
    files together) is a ``code_too_complex`` problem. Past 100 problems, or warnings,
    the rest are counted, by code, on the package.
    """
    sources = {path: files[path] for path in sorted(files) if path.endswith(".py")}
    problems, warnings = _Capped(), _Capped()
    for path, data in list(sources.items()):
        if len(data) > MAX_PY_FILE_BYTES:
            message = (
                f"this Python file is {len(data):,} bytes; the limit is {MAX_PY_FILE_BYTES:,}"
                f" bytes ({MAX_PY_FILE_BYTES >> 10} KiB) per file, so it was not checked"
            )
            problems.add([Problem(path, ProblemCode.CODE_TOO_LARGE, message)])
            del sources[path]
    total = sum(map(len, sources.values()))  # what would be parsed: the files under the limit
    if total > MAX_PY_TOTAL_BYTES:
        message = (
            f"the Python files add up to {total:,} bytes; the limit is {MAX_PY_TOTAL_BYTES:,}"
            f" bytes ({MAX_PY_TOTAL_BYTES >> 10} KiB) for all of them, so none was checked"
        )
        problems.add([Problem(_package_field(), ProblemCode.CODE_TOO_LARGE, message)])
    elif sources:
        _check_in_children(sources, _own_modules(files), timeout, problems, warnings)
    return problems.result(), warnings.result()
