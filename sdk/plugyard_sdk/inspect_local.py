"""Loading a plugin's code on the author's machine: the load report the sandbox would give.

The server loads an upload in the sandbox and compares what it registered with its
manifest (`plugyard_sdk.validation.check_load_report`). ``plugyard validate`` needs the
same report offline, so this loads the package's files in a child interpreter (a hang or a
crash in module code costs a timeout, not the CLI) with the sandbox's extra builtins
(`plugin_builtins`), and
collects the registrations with the runtime's one `collect`. The report has the sandbox's
shape: ``hooks``, ``routes``, ``jobs``, ``lifecycle``, ``functions``, ``plugin``, and
``errors`` (``{message, type, file, line}``, files relative to the package).

This is not a sandbox: it runs the author's own code, as their tests do. The import
allowlist is the static scan's to enforce, before this runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = ["LOAD_TIMEOUT_S", "load_report"]

LOAD_TIMEOUT_S: Final = 10.0  # the sandbox's load_timeout_s

# argv: <plugin dir> <entry> <sdk dir>
_CHILD_PROGRAM: Final = r"""
import importlib, json, os, sys, traceback
root, entry, sdk_dir = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path[:0] = [root, sdk_dir]
from plugyard_sdk.plugin_builtins import install
install()  # the names the sandbox gives every plugin module
module_name = entry[:-3].replace("/", ".") if entry.endswith(".py") else entry
try:
    from plugyard_sdk._collect import collect
    module = importlib.import_module(module_name)
    own = [m for n, m in list(sys.modules.items())
           if n != module_name and os.path.abspath(getattr(m, "__file__", None) or "/").startswith(root + os.sep)]
    report = collect([vars(module)] + [vars(m) for m in own]).describe()
    report["errors"] = []
except BaseException as exc:
    where = None
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith(root + os.sep):
        where = (exc.filename, exc.lineno)
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root + os.sep)]
        if frames:
            where = (frames[-1].filename, frames[-1].lineno)
    kind = type(exc).__name__
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    report = {"errors": [{"type": kind, "message": f"{kind}: {message}",
                          "file": os.path.relpath(where[0], root) if where else None,
                          "line": where[1] if where else None}]}
sys.stdout.write("\n@@plugyard-report@@" + json.dumps(report, default=str))
"""


def _failed(message: str, kind: str = "LoadError") -> dict[str, Any]:
    return {"errors": [{"type": kind, "message": f"{kind}: {message}", "file": None, "line": None}]}


def load_report(
    files: Mapping[str, bytes], entry: str, *, timeout: float = LOAD_TIMEOUT_S
) -> dict[str, Any]:
    """Load ``files`` (a package's, as `read_package` kept them) and report what registered."""
    sdk_dir = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="plugyard-load-") as tmp:
        root = os.path.realpath(tmp)
        for path, data in files.items():
            target = Path(root, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        argv = [sys.executable, "-I", "-B", "-c", _CHILD_PROGRAM, root, entry, sdk_dir]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, cwd=root)
        except subprocess.TimeoutExpired:
            return _failed(f"loading the code took longer than {timeout:g} s", "TimeoutError")
        except OSError as exc:
            return _failed(f"could not start Python to load the code ({exc.strerror or exc})")
    # The plugin may print at import: the report is what follows the last marker.
    _, marker, tail = done.stdout.decode("utf-8", "replace").rpartition("\n@@plugyard-report@@")
    if not marker:
        return _failed(f"the code stopped the interpreter (exit status {done.returncode})", "SystemExit")
    try:
        report = json.loads(tail)
    except ValueError:
        return _failed("the load report could not be read")
    return report if isinstance(report, dict) else _failed("the load report could not be read")
