"""The plugin author's loop in the CLI: ``dev``, ``logs``, ``replay`` and ``test``.

Each command lives in its own module (``dev``, ``logs``, ``replay``); this one adds them to
the CLI's command table (``cli._parser`` calls :func:`add_commands`) and holds ``test``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import dev, logs, replay
from ._build import CliError

__all__ = ["add_commands", "pytest_command"]

_KIT_PLUGIN = "ops_center_sdk.pytest_plugin"


def pytest_command(directory: Path, extra: list[str]) -> list[str]:
    """``python -m pytest`` in ``directory`` with the kit's pytest plugin (async tests, fixtures)."""
    command = [sys.executable, "-m", "pytest"]
    registered = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    if _KIT_PLUGIN not in registered.values():  # the SDK is on the path but not installed: load the kit by name
        command += ["-p", _KIT_PLUGIN]
    if "django" in registered:
        # A plugin's tests never need Django (the SDK has none); pytest-django in the same
        # Python would try to set up whatever DJANGO_SETTINGS_MODULE names.
        command += ["-p", "no:django"]
    return command + extra


def _cmd_test(args: argparse.Namespace) -> int:
    directory = Path(args.path)
    if not directory.is_dir():
        raise CliError(f"{directory} is not a folder")
    if importlib.util.find_spec("pytest") is None:
        raise CliError("pytest is not installed in this Python: pip install pytest", 2)
    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return subprocess.call(pytest_command(directory, extra), cwd=directory)


def add_commands(commands: Any) -> None:
    dev.add_command(commands)
    logs.add_command(commands)
    replay.add_command(commands)
    test = commands.add_parser("test", help="run the plugin's tests with the SDK's test kit (async tests included)")
    test.add_argument("path", nargs="?", default=".", metavar="DIR")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS",
                      help="passed to pytest (after --)")
    test.set_defaults(run=_cmd_test)
