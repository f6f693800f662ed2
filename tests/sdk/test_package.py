"""Package reader: guide plugins upload as .zip and .tar.gz; hostile archives are refused."""

from __future__ import annotations

import hashlib
import io
import random
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from plugyard_sdk.package import (
    SANDBOX_IMPORT_ALLOWLIST,
    PackageLimits,
    extract_to,
    read_package,
)
from plugyard_sdk.problems import PackageInvalid, Problem

from .conftest import make_tar, make_zip, sbh_manifest


def refused(data: bytes, limits: PackageLimits | None = None) -> set[tuple[str, str]]:
    with pytest.raises(PackageInvalid) as info:
        read_package(data, "upload.bin", limits)
    return {(p.field, p.code) for p in info.value.problems}


def with_main(source: str, **extra: bytes) -> dict[str, bytes]:
    return {"plugin.json": sbh_manifest(), "main.py": source.encode(), **extra}


# ------------------------------------------------------------------ good packages


@pytest.mark.parametrize(
    ("build", "fmt"),
    [
        (lambda f: make_zip(f), "zip"),
        (lambda f: make_zip(f, top="my-plugin/"), "zip"),
        (lambda f: make_tar(f), "tar.gz"),
        (lambda f: make_tar(f, top="./"), "tar.gz"),
        (lambda f: make_tar(f, top="my-plugin-1.0.0/"), "tar.gz"),
    ],
    ids=["zip", "zip-in-folder", "tar", "tar-dot", "tar-in-folder"],
)
def test_sbh_guide_plugin_reads_in_every_shape(
    sbh_files: dict[str, bytes], build, fmt: str
) -> None:
    data = build(sbh_files)
    package = read_package(data, "my-plugin.zip", PackageLimits())
    assert package.files == sbh_files
    assert package.archive_format == fmt
    assert package.sha256 == hashlib.sha256(data).hexdigest()
    assert package.manifest.slug == "my-plugin" and package.warnings == []
    [webhook] = package.webhooks
    assert webhook.path == "webhooks/notifications.yaml"


def test_ops_center_guide_plugin_reads(ops_files: dict[str, bytes]) -> None:
    package = read_package(make_tar(ops_files, top="my-plugin-1.0.0/"), "my-plugin-1.0.0.tar.gz")
    assert package.manifest.source_format == "ops-center"
    assert package.manifest.permissions == [
        "devices.read",
        "devices.write",
        "alerts.write",
        "users.read",
    ]


def test_format_is_sniffed_not_taken_from_the_name(sbh_files: dict[str, bytes]) -> None:
    assert read_package(make_tar(sbh_files), "plugin.zip").archive_format == "tar.gz"


def test_junk_tests_and_build_output_are_ignored_with_warnings(sbh_files: dict[str, bytes]) -> None:
    files = {
        **sbh_files,
        "__pycache__/main.cpython-311.pyc": b"\0",
        ".DS_Store": b"\0",
        "tests/test_main.py": b"import pytest\n",
        "dist/old.tar.gz": b"\0",
    }
    data = make_zip(files, top="my-plugin/") + b""
    # a Finder zip adds __MACOSX/ beside the folder
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("__MACOSX/my-plugin/._main.py", b"\0")
    package = read_package(buffer.getvalue(), "x.zip")
    assert set(package.files) == set(sbh_files)
    ignored = {p.field for p in package.warnings if p.code == "ignored_file"}
    assert {
        "tests/test_main.py",
        "dist/old.tar.gz",
        "my-plugin/__pycache__/main.cpython-311.pyc",
    } <= ignored
    assert "__MACOSX/my-plugin/._main.py" in ignored


def test_own_modules_relative_imports_and_sdk_imports_pass() -> None:
    main = (
        "from __future__ import annotations\n"
        "import helpers\nfrom lib.util import thing\nfrom . import sibling\n"
        "from src.ext import sdk\nimport ops_center_sdk\nfrom plugyard_sdk import hook\n"
        "import urllib.parse\nfrom urllib import parse\nfrom collections.abc import Mapping\n"
        "import asyncio, typing, dataclasses, enum, decimal, json, re\n"
    )
    files = with_main(
        main, **{"helpers.py": b"X = 1\n", "lib/util.py": b"thing = 1\n", "sibling.py": b""}
    )
    assert read_package(make_zip(files)).manifest.slug == "my-plugin"


def test_asyncio_subprocess_is_a_warning_not_a_refusal() -> None:
    main = "import asyncio\n\nasync def f():\n    await asyncio.create_subprocess_exec('ls')\n"
    package = read_package(make_zip(with_main(main)))
    assert [(w.field, w.code) for w in package.warnings] == [("main.py:4", "sandbox_blocked")]


def test_extract_to_writes_read_only_files(sbh_files: dict[str, bytes], tmp_path: Path) -> None:
    package = read_package(make_zip(sbh_files))
    root = extract_to(package, tmp_path / "out")
    assert (root / "webhooks/notifications.yaml").read_bytes() == sbh_files[
        "webhooks/notifications.yaml"
    ]
    assert stat.S_IMODE((root / "main.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((root / "webhooks").stat().st_mode) == 0o555
    for folder in (root / "webhooks", root / "transforms"):
        folder.chmod(0o755)  # let tmp_path clean up


def test_allowlist_is_shared_as_a_frozenset() -> None:
    assert isinstance(SANDBOX_IMPORT_ALLOWLIST, frozenset)
    guide = {"json", "datetime", "time", "uuid", "hashlib", "base64", "urllib.parse", "collections",
             "itertools", "functools", "re", "math", "random", "string"}  # fmt: skip
    assert (
        guide | {"asyncio", "typing", "src.ext.sdk", "ops_center_sdk", "plugyard_sdk"}
        <= SANDBOX_IMPORT_ALLOWLIST
    )
    assert (
        not {"os", "sys", "subprocess", "socket", "importlib", "urllib", "builtins"}
        & SANDBOX_IMPORT_ALLOWLIST
    )


# ------------------------------------------------------------------ limits


def test_compressed_size_limit() -> None:
    assert refused(b"PK\x03\x04" + b"\0" * 2000, PackageLimits(max_compressed_bytes=1000)) == {
        ("archive", "archive_too_large")
    }


def test_declared_expanded_size_is_checked_before_reading(sbh_files: dict[str, bytes]) -> None:
    files = {**sbh_files, "data.bin": random.Random(7).randbytes(2_000_000)}
    assert ("archive", "archive_too_large") in refused(
        make_zip(files), PackageLimits(max_expanded_bytes=1_000_000)
    )
    assert ("archive", "archive_too_large") in refused(
        make_tar(files), PackageLimits(max_expanded_bytes=1_000_000)
    )


def test_too_many_entries(sbh_files: dict[str, bytes]) -> None:
    files = {**sbh_files, **{f"static/{i}.txt": b"x" for i in range(10)}}
    assert refused(make_zip(files), PackageLimits(max_entries=8)) == {
        ("archive", "too_many_entries")
    }
    assert refused(make_tar(files), PackageLimits(max_entries=8)) == {
        ("archive", "too_many_entries")
    }


def test_zip_compression_bomb_is_refused_per_entry(sbh_files: dict[str, bytes]) -> None:
    data = make_zip({**sbh_files, "static/zeros.bin": b"\0" * 5_000_000})
    assert len(data) < 100_000
    assert refused(data) == {("static/zeros.bin", "compression_bomb")}


def test_tar_gz_compression_bomb_is_refused_while_decompressing(
    sbh_files: dict[str, bytes],
) -> None:
    data = make_tar({**sbh_files, "static/zeros.bin": b"\0" * 5_000_000})
    assert refused(data) == {("archive", "compression_bomb")}


def test_lying_zip_header_cannot_smuggle_bytes(sbh_files: dict[str, bytes]) -> None:
    data = bytearray(make_zip({**sbh_files, "static/blob.bin": bytes(range(256)) * 40}))
    # Patch the central directory's uncompressed size of the last entry down to 10 bytes.
    at = data.rindex(b"PK\x01\x02")
    data[at + 24 : at + 28] = (10).to_bytes(4, "little")
    assert ("static/blob.bin", "invalid_archive") in refused(bytes(data))


# ------------------------------------------------------------------ hostile entries


@pytest.mark.parametrize(
    "name",
    ["../evil.py", "/etc/evil.py", "a\\..\\evil.py", "C:/evil.py", "a/../../evil.py", "a//b.py"],
)
def test_unsafe_paths_in_zip(sbh_files: dict[str, bytes], name: str) -> None:
    assert (name, "unsafe_path") in refused(make_zip({**sbh_files, name: b"x = 1\n"}))


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py"])
def test_unsafe_paths_in_tar(sbh_files: dict[str, bytes], name: str) -> None:
    assert (name, "unsafe_path") in refused(make_tar({**sbh_files, name: b"x = 1\n"}))


def _info(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    ("info", "code"),
    [
        (_info("link.py", tarfile.SYMTYPE, "/etc/passwd"), "link_entry"),
        (_info("hard.py", tarfile.LNKTYPE, "main.py"), "link_entry"),
        (_info("pipe", tarfile.FIFOTYPE), "special_file"),
        (_info("tty", tarfile.CHRTYPE), "special_file"),
        (_info("disk", tarfile.BLKTYPE), "special_file"),
    ],
)
def test_links_and_devices_in_tar(
    sbh_files: dict[str, bytes], info: tarfile.TarInfo, code: str
) -> None:
    assert (info.name, code) in refused(make_tar(sbh_files, extra=[info]))


def test_symlink_in_zip(sbh_files: dict[str, bytes]) -> None:
    buffer = io.BytesIO(make_zip(sbh_files))
    with zipfile.ZipFile(buffer, "a") as archive:
        link = zipfile.ZipInfo("evil.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        fifo = zipfile.ZipInfo("pipe")
        fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
        archive.writestr(fifo, "")
    assert {("evil.py", "link_entry"), ("pipe", "special_file")} <= refused(buffer.getvalue())


def test_duplicate_entries(sbh_files: dict[str, bytes]) -> None:
    buffer = io.BytesIO(make_zip(sbh_files))
    with zipfile.ZipFile(buffer, "a") as archive, pytest.warns(UserWarning):
        archive.writestr("main.py", b"print('again')\n")
    assert ("main.py", "duplicate") in refused(buffer.getvalue())
    assert ("MAIN.py", "duplicate") in refused(make_zip({**sbh_files, "MAIN.py": b""}))
    assert ("static", "duplicate") in refused(
        make_tar({**sbh_files, "static": b"", "static/a.txt": b""})
    )


@pytest.mark.parametrize(
    "data", [b"not an archive at all", b"PK\x03\x04garbage", b"\x1f\x8bgarbage"]
)
def test_not_an_archive(data: bytes) -> None:
    assert refused(data) == {("archive", "invalid_archive")}


# ------------------------------------------------------------------ contents


def test_missing_manifest(sbh_files: dict[str, bytes]) -> None:
    files = {k: v for k, v in sbh_files.items() if k != "plugin.json"}
    assert ("archive", "missing_manifest") in refused(make_zip(files))
    # a manifest two folders down is not at the root either
    assert ("archive", "missing_manifest") in refused(make_zip(sbh_files, top="a/b/"))


def test_both_manifests_are_ambiguous(
    sbh_files: dict[str, bytes], ops_files: dict[str, bytes]
) -> None:
    assert ("archive", "ambiguous_manifest") in refused(make_zip({**sbh_files, **ops_files}))


def test_missing_entry_file(sbh_files: dict[str, bytes], ops_files: dict[str, bytes]) -> None:
    assert ("entry", "missing_entry") in refused(
        make_zip({k: v for k, v in sbh_files.items() if k != "main.py"})
    )
    assert ("runtime.entrypoint", "missing_entry") in refused(
        make_zip({"plugin.yaml": ops_files["plugin.yaml"]})
    )


def test_syntax_error_is_reported_with_file_and_line() -> None:
    with pytest.raises(PackageInvalid) as info:
        read_package(make_zip(with_main("import json\n\ndef broken(:\n    pass\n")))
    [problem] = info.value.problems
    assert (problem.field, problem.code) == ("main.py:3", "syntax_error")
    assert problem.message


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("import os\n", 1),
        ("import json\nimport subprocess\n", 2),
        ("from urllib import request\n", 1),
        ("import urllib.request\n", 1),
        ("import importlib\n", 1),
        ("x = __import__('os')\n", 1),
        ("import builtins\nbuiltins.__import__('os')\n", 2),
        ("def f():\n    import socket\n", 2),
        ("from src.ext import secrets\n", 1),
    ],
)
def test_forbidden_imports_are_refused_with_file_and_line(source: str, line: int) -> None:
    problems = refused(make_zip(with_main(source)))
    assert (f"main.py:{line}", "forbidden_import") in problems


def test_forbidden_import_in_another_file() -> None:
    files = with_main("import helpers\n", **{"helpers.py": b"import json\nimport ctypes\n"})
    assert refused(make_zip(files)) == {("helpers.py:2", "forbidden_import")}


def test_webhook_problems_are_prefixed_with_the_file(sbh_files: dict[str, bytes]) -> None:
    bad = sbh_files["webhooks/notifications.yaml"].replace(b"HMAC-SHA256", b"SHA1")
    files = {**sbh_files, "webhooks/notifications.yaml": bad}
    assert refused(make_zip(files)) == {
        ("webhooks/notifications.yaml: delivery.signing.alg", "invalid_choice")
    }
    files = {k: v for k, v in sbh_files.items() if not k.startswith("transforms/")}
    assert refused(make_zip(files)) == {
        ("webhooks/notifications.yaml: transform.entry", "missing_file")
    }


def test_every_problem_of_every_kind_at_once(sbh_files: dict[str, bytes]) -> None:
    files = {
        **sbh_files,
        "plugin.json": sbh_manifest(permissions=["db.read", "root"]),
        "main.py": b"import os\n",
        "../escape.py": b"",
    }
    assert {
        ("permissions[1]", "unknown_permission"),
        ("main.py:1", "forbidden_import"),
        ("../escape.py", "unsafe_path"),
    } <= refused(make_zip(files))


def test_problems_render_for_people() -> None:
    problem = Problem("jobs[0].schedule", "invalid_cron", "bad")
    assert str(problem) == "jobs[0].schedule: bad [invalid_cron]"
    assert problem.as_dict() == {
        "field": "jobs[0].schedule",
        "code": "invalid_cron",
        "message": "bad",
    }
