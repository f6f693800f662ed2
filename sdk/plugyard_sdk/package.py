"""Reading an uploaded plugin archive (.zip or .tar.gz), defensively, into a `PluginPackage`.

The archive is untrusted. Limits (`PackageLimits`) are checked on declared sizes before
anything is read and enforced on actual bytes while reading, in chunks. Paths are checked
before a byte is kept; links and device files are refused. Then the manifest, the entry
file, webhook files and every ``.py`` file (syntax and imports) are checked, and every
problem is raised at once. The CLI's ``validate`` calls the same `read_package`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ._archive import ARCHIVE_FIELD, PackageLimits, read_entries, safe_name
from ._scan import SANDBOX_IMPORT_ALLOWLIST, check_python_files
from ._secret_refs import secrets_read_in
from .manifest import Manifest, SecretSpec, parse_manifest
from .problems import PackageInvalid, Problem, ProblemCode
from .webhooks import WebhookSpec, parse_webhook

__all__ = [
    "SANDBOX_IMPORT_ALLOWLIST",
    "PackageInvalid",
    "PackageLimits",
    "PluginPackage",
    "Problem",
    "extract_to",
    "read_package",
]

_ARCHIVE = ARCHIVE_FIELD
_JUNK_PARTS = frozenset({"__MACOSX", "__pycache__", ".git", ".DS_Store", "Thumbs.db"})
_ROOT_IGNORED = frozenset({"tests", "dist", "conftest.py"})


@dataclass(frozen=True)
class PluginPackage:
    """A plugin archive that passed every check."""

    manifest: Manifest
    files: Mapping[str, bytes]
    webhooks: list[WebhookSpec]
    sha256: str
    warnings: list[Problem] = field(default_factory=list)
    archive_format: Literal["zip", "tar.gz"] = "zip"

    @property
    def expanded_size(self) -> int:
        """Total bytes of the kept files."""
        return sum(len(data) for data in self.files.values())


def _collect(
    entries: list[tuple[str, bytes]], problems: list[Problem], warnings: list[Problem]
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    folded: dict[str, str] = {}
    ignored: list[str] = []
    for name, content in entries:
        path, reason = safe_name(name)
        if path is None:
            problems.append(Problem(name, ProblemCode.UNSAFE_PATH, f"refused: the entry {reason}"))
            continue
        if not path or _JUNK_PARTS.intersection(path.split("/")) or path.endswith((".pyc", ".pyo")):
            if path:
                ignored.append(path)
            continue
        if path.casefold() in folded:
            problems.append(
                Problem(
                    path,
                    ProblemCode.DUPLICATE,
                    f"the archive holds {folded[path.casefold()]!r} twice (names compared case-insensitively)",
                )
            )
            continue
        folded[path.casefold()] = path
        files[path] = content
    files = _strip_wrapper(files)
    for path in list(files):
        if path.split("/", 1)[0] in _ROOT_IGNORED:
            ignored.append(path)
            del files[path]
    directories = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    for path in sorted(directories.intersection(files)):
        problems.append(Problem(path, ProblemCode.DUPLICATE, "is both a file and a folder"))
    for path in ignored[:10]:
        warnings.append(
            Problem(
                path,
                ProblemCode.IGNORED_FILE,
                "ignored: not part of a plugin (caches, tests, build output)",
            )
        )
    if len(ignored) > 10:
        warnings.append(
            Problem(
                _ARCHIVE, ProblemCode.IGNORED_FILE, f"and {len(ignored) - 10} more files ignored"
            )
        )
    if "requirements.txt" in files:
        warnings.append(
            Problem(
                "requirements.txt",
                ProblemCode.SANDBOX_BLOCKED,
                "third-party packages are not installed in the sandbox; only the allowed standard-library modules and the SDK can be imported",
            )
        )
    return files


def _strip_wrapper(files: dict[str, bytes]) -> dict[str, bytes]:
    # `zip -r plugin.zip my-plugin/` and `build` wrap everything in one folder.
    if any(name in files for name in ("plugin.json", "plugin.yaml")) or not files:
        return files
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) != 1 or any("/" not in path for path in files):
        return files
    cut = len(tops.pop()) + 1
    return {path[cut:]: content for path, content in files.items()}


def _check_contents(
    files: dict[str, bytes],
    problems: list[Problem],
    warnings: list[Problem],
    scan_timeout_s: float,
) -> tuple[Manifest | None, list[WebhookSpec]]:
    present = [name for name in ("plugin.json", "plugin.yaml") if name in files]
    manifest: Manifest | None = None
    if not present:
        problems.append(
            Problem(
                _ARCHIVE,
                ProblemCode.MISSING_MANIFEST,
                "no plugin.json or plugin.yaml at the root of the archive",
            )
        )
    elif len(present) == 2:
        problems.append(
            Problem(
                _ARCHIVE,
                ProblemCode.AMBIGUOUS_MANIFEST,
                "both plugin.json and plugin.yaml are present; keep one",
            )
        )
    else:
        try:
            manifest = parse_manifest(present[0], files[present[0]])
        except PackageInvalid as exc:
            problems += exc.problems
    if manifest is not None and manifest.entry not in files:
        where = (
            "entry"
            if manifest.source_format == "sbh" or manifest.entry != manifest.runtime.entrypoint
            else "runtime.entrypoint"
        )
        problems.append(
            Problem(
                where,
                ProblemCode.MISSING_ENTRY,
                f"the entry file {manifest.entry!r} is not in the package",
            )
        )
    found, notes = check_python_files(files, timeout=scan_timeout_s)
    problems += found
    warnings += notes
    webhooks: list[WebhookSpec] = []
    for path in sorted(files):
        parts = path.split("/")
        if len(parts) == 2 and parts[0] == "webhooks" and parts[1].endswith((".yaml", ".yml")):
            try:
                webhooks.append(parse_webhook(path, files[path], files))
            except PackageInvalid as exc:
                problems += exc.problems
    return manifest, webhooks


def _with_needed_secrets(
    manifest: Manifest, files: Mapping[str, bytes], webhooks: list[WebhookSpec]
) -> Manifest:
    """The manifest with every secret the package needs: declared, read in code, used by webhooks."""
    used: dict[str, list[str]] = secrets_read_in(files)
    for spec in webhooks:
        for name in spec.secret_names():
            used.setdefault(name, []).append(spec.path)
    declared = {secret.name for secret in manifest.secrets}
    needed = [
        secret.model_copy(update={"used_in": used.get(secret.name, [])}) for secret in manifest.secrets
    ]
    needed += [
        SecretSpec(name=name, declared=False, used_in=paths)
        for name, paths in used.items()
        if name not in declared
    ]
    return manifest.model_copy(update={"secrets": needed})


def read_package(
    data: bytes, filename: str = "plugin.zip", limits: PackageLimits | None = None
) -> PluginPackage:
    """Read and check a plugin archive; raise `PackageInvalid` with every problem found.

    The format is sniffed from the bytes (``PK`` → zip, gzip magic → tar.gz), not the name.
    """
    fmt, entries, problems = read_entries(data, filename, limits or PackageLimits())
    warnings: list[Problem] = []
    files = _collect(entries, problems, warnings)
    limits = limits or PackageLimits()
    manifest, webhooks = _check_contents(files, problems, warnings, limits.scan_timeout_s)
    if problems or manifest is None:
        raise PackageInvalid(problems)
    digest = hashlib.sha256(data).hexdigest()
    manifest = _with_needed_secrets(manifest, files, webhooks)
    return PluginPackage(manifest, files, webhooks, digest, warnings, fmt)


def extract_to(package: PluginPackage, directory: str | os.PathLike[str]) -> Path:
    """Write the package's files below ``directory``: read-only files, no links, nothing outside."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    made: set[Path] = set()
    for path, content in sorted(package.files.items()):
        target = (root / path).resolve()
        if root not in target.parents:
            raise PackageInvalid(
                [
                    Problem(
                        path, ProblemCode.UNSAFE_PATH, "would be written outside the plugin folder"
                    )
                ]
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        made.update(p for p in target.parents if root in p.parents)
        fd = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644
        )
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        target.chmod(0o444)
    for folder in sorted(made, key=lambda p: len(p.parts), reverse=True):
        folder.chmod(0o555)
    return root
