"""Static checks of a plugin's Python files: they parse, and import only what the sandbox allows.

This is the early, friendly half of the import barrier: an upload that would fail in the
sandbox is refused with file and line. The sandbox enforces the same
`SANDBOX_IMPORT_ALLOWLIST` at run time; runtime-only barriers (``open``, ``eval``…) stay
there. Standard library only.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from .problems import Problem, ProblemCode

__all__ = ["SANDBOX_IMPORT_ALLOWLIST", "check_python_files", "is_allowed_import"]

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


def check_python_files(files: Mapping[str, bytes]) -> tuple[list[Problem], list[Problem]]:
    """Parse every ``.py`` file and scan its imports: ``(problems, warnings)``.

    Problems are placed ``path:line``: syntax errors, and imports outside the allowlist
    (plus ``__import__``); relative imports and the plugin's own top-level modules pass.
    """
    own = _own_modules(files)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for path in sorted(files):
        if not path.endswith(".py"):
            continue
        try:
            tree = ast.parse(files[path], filename=path)
        except SyntaxError as exc:
            problems.append(
                Problem(f"{path}:{exc.lineno or 0}", ProblemCode.SYNTAX_ERROR, str(exc.msg))
            )
            continue
        except (ValueError, RecursionError, MemoryError) as exc:
            problems.append(Problem(path, ProblemCode.SYNTAX_ERROR, f"cannot be parsed: {exc}"))
            continue
        found, notes = _scan(path, tree, own)
        problems += found
        warnings += notes
    return problems, warnings
