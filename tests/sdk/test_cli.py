"""CLI: init scaffolds plugins that validate; build is deterministic; publish talks to the API."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from plugyard_sdk.cli import build_archive, main
from plugyard_sdk.package import read_package

from .conftest import make_zip

KEY = "pk_live_super_secret_key"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("OPS_CENTER_API_URL", "OPS_CENTER_API_KEY", "PLUGYARD_TENANT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def init(*args: str) -> int:
    return main(["init", *args])


@pytest.mark.parametrize("style", ["ops-center", "sbh"])
def test_init_scaffolds_a_plugin_that_validates(
    workdir: Path, style: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init("my-plugin", "--name", "My Awesome Plugin", "--description", "Does something awesome",
                "--author", "Your Name", "--category", "monitoring", "--type", "backend", "--style", style) == 0  # fmt: skip
    root = workdir / "my-plugin"
    manifest = "plugin.yaml" if style == "ops-center" else "plugin.json"
    assert {manifest, "main.py", "requirements.txt", "README.md", "tests/test_main.py"} <= {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
    }
    capsys.readouterr()
    assert main(["validate", str(root)]) == 0
    assert "OK: my-plugin 0.1.0 is valid" in capsys.readouterr().out


def test_init_refuses_a_bad_name_and_an_existing_folder(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init("Bad Name") == 2
    assert "not a valid plugin id" in capsys.readouterr().err
    (workdir / "taken").mkdir()
    (workdir / "taken" / "x").write_text("x")
    assert init("taken") == 1
    assert "already exists" in capsys.readouterr().err


def test_build_is_deterministic_and_wrapped_in_slug_version(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init("my-plugin")
    root = workdir / "my-plugin"
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    assert main(["build", str(root)]) == 0
    archive = root / "dist" / "my-plugin-0.1.0.tar.gz"
    first = archive.read_bytes()
    digest = hashlib.sha256(first).hexdigest()
    assert (
        root / "dist" / "my-plugin-0.1.0.tar.gz.sha256"
    ).read_text() == f"{digest}  my-plugin-0.1.0.tar.gz\n"
    os.utime(root / "main.py", (1, 1))  # mtimes must not matter
    assert main(["build", str(root)]) == 0
    assert archive.read_bytes() == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        names = tar.getnames()
        assert all(m.mtime == tar.getmembers()[0].mtime and m.uid == 0 for m in tar.getmembers())
    assert names == sorted(names)
    assert names == [
        "my-plugin-0.1.0/README.md",
        "my-plugin-0.1.0/main.py",
        "my-plugin-0.1.0/plugin.yaml",
    ]
    assert read_package(first, archive.name).manifest.slug == "my-plugin"
    assert "sha256 " + digest in capsys.readouterr().out


def test_validate_prints_every_problem_and_exits_1(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init("broken", "--style", "sbh")
    root = workdir / "broken"
    manifest = json.loads((root / "plugin.json").read_text())
    manifest["permissions"] = ["db.read", "devices:fly"]
    manifest["jobs"][0]["schedule"] = "0 25 * * *"
    (root / "plugin.json").write_text(json.dumps(manifest))
    (root / "main.py").write_text((root / "main.py").read_text() + "\nimport os\n")
    capsys.readouterr()
    assert main(["validate", str(root)]) == 1
    out, err = capsys.readouterr()
    assert "permissions[1]:" in out and "[unknown_permission]" in out
    assert "jobs[0].schedule:" in out and "[invalid_cron]" in out
    assert "main.py:" in out and "[forbidden_import]" in out
    assert "Traceback" not in out + err
    assert main(["build", str(root)]) == 1
    assert not (root / "dist").exists()


def test_validate_accepts_an_archive_file(workdir: Path, sbh_files: dict[str, bytes]) -> None:
    # The server refuses webhook files without `emit_webhook`, so validate does too.
    (workdir / "no-permission.zip").write_bytes(make_zip(sbh_files))
    assert main(["validate", "no-permission.zip"]) == 1
    manifest = json.loads(sbh_files["plugin.json"])
    manifest["permissions"].append("emit_webhook")
    files = {**sbh_files, "plugin.json": json.dumps(manifest).encode()}
    (workdir / "my-plugin.zip").write_bytes(make_zip(files))
    assert main(["validate", "my-plugin.zip"]) == 0


def test_missing_folder_and_symlinks_are_clear_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "nowhere"]) == 1
    assert "is not a folder" in capsys.readouterr().err
    init("linked")
    (workdir / "linked" / "passwd.txt").symlink_to("/etc/passwd")
    assert main(["build", "linked"]) == 1
    assert "symbolic link" in capsys.readouterr().err


def test_usage_errors_exit_2(workdir: Path) -> None:
    assert main([]) == 2
    assert main(["frobnicate"]) == 2


def test_build_archive_matches_folder(workdir: Path) -> None:
    init("my-plugin", "--style", "sbh")
    data, name = build_archive(workdir / "my-plugin")
    assert name == "my-plugin-0.1.0.tar.gz"
    assert set(read_package(data, name).files) == {"README.md", "main.py", "plugin.json"}


# ------------------------------------------------------------------ publish


class _Api(BaseHTTPRequestHandler):
    status = 201
    answer: Any = {"id": 7, "slug": "my-plugin"}
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        payload = json.dumps(self.answer).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Api]]:
    handler = type("Api", (_Api,), {"seen": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPS_CENTER_API_URL", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.setenv("OPS_CENTER_API_KEY", KEY)
    monkeypatch.setenv("PLUGYARD_TENANT", "acme")
    yield handler
    server.shutdown()
    server.server_close()


def test_publish_posts_multipart_with_token_and_tenant(
    workdir: Path, api: type[_Api], capsys: pytest.CaptureFixture[str]
) -> None:
    init("my-plugin")
    capsys.readouterr()
    assert main(["publish", "my-plugin"]) == 0
    [request] = api.seen
    assert request["path"] == "/api/plugins/upload"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["headers"]["X-Tenant-Slug"] == "acme"
    assert request["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="my-plugin-0.1.0.tar.gz"' in request["body"]
    out, err = capsys.readouterr()
    assert "Published my-plugin-0.1.0.tar.gz" in out and "id 7" in out
    assert KEY not in out + err


def test_publish_prints_the_servers_problems(
    workdir: Path, api: type[_Api], capsys: pytest.CaptureFixture[str]
) -> None:
    api.status = 400
    api.answer = {
        "detail": f"refused for {KEY}",
        "problems": [
            {"field": "version", "code": "duplicate", "message": "my-plugin 0.1.0 already exists"}
        ],
    }
    init("my-plugin")
    assert main(["publish", "my-plugin"]) == 1
    out, err = capsys.readouterr()
    assert "HTTP 400" in err and "version: my-plugin 0.1.0 already exists [duplicate]" in err
    assert KEY not in out + err


def test_publish_needs_url_and_key(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish"]) == 2
    assert "OPS_CENTER_API_URL" in capsys.readouterr().err


def test_publish_reports_an_unreachable_server(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPS_CENTER_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OPS_CENTER_API_KEY", KEY)
    init("my-plugin")
    assert main(["publish", "my-plugin", "--timeout", "5"]) == 1
    out, err = capsys.readouterr()
    assert "could not reach" in err and KEY not in out + err and "Traceback" not in err


def test_publish_submit_asks_for_review_and_prints_the_listing(
    workdir: Path, api: type[_Api], capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer = {"id": 7, "listing": {"status": "pending_review", "version": "0.1.0"}}
    init("my-plugin")
    capsys.readouterr()
    assert main(["publish", "my-plugin", "--submit"]) == 0
    upload, submit = api.seen
    assert (upload["path"], submit["path"]) == ("/api/plugins/upload", "/api/plugins/7/submit")
    assert submit["headers"]["Authorization"] == f"Bearer {KEY}"
    assert submit["headers"]["X-Tenant-Slug"] == "acme"
    assert "Submitted for review: listing pending_review (version 0.1.0)" in capsys.readouterr().out


def test_publish_without_submit_asks_for_nothing(workdir: Path, api: type[_Api]) -> None:
    init("my-plugin")
    assert main(["publish", "my-plugin"]) == 0
    assert [r["path"] for r in api.seen] == ["/api/plugins/upload"]


def test_the_servers_error_envelope_is_printed_as_sentences(
    workdir: Path, api: type[_Api], capsys: pytest.CaptureFixture[str]
) -> None:
    api.status = 400
    api.answer = {"error": {
        "code": "already_approved", "message": "my-plugin 0.1.0 is approved already.",
        "details": [{"field": "version", "code": "version_exists", "message": "This version exists."}],
    }}
    init("my-plugin")
    assert main(["publish", "my-plugin", "--submit"]) == 1
    err = capsys.readouterr().err
    assert "my-plugin 0.1.0 is approved already. [already_approved]" in err
    assert "version: This version exists. [version_exists]" in err
    assert "{" not in err


# ------------------------------------------------------------------ console scripts


@pytest.mark.parametrize("script", ["ops-center-plugin", "plugyard"])
def test_console_scripts(workdir: Path, script: str) -> None:
    exe = Path(sys.executable).with_name(script)
    if not exe.exists():
        pytest.skip(f"{script} is not installed (pip install -e ./sdk)")
    done = subprocess.run(
        [str(exe), "init", "cli-plugin"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [str(exe), "validate", "cli-plugin"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "is valid" in done.stdout
    (workdir / "cli-plugin" / "main.py").write_text("import os\n")
    done = subprocess.run(
        [str(exe), "validate", "cli-plugin"], capture_output=True, text=True, timeout=60
    )
    assert (
        done.returncode == 1
        and "forbidden_import" in done.stdout
        and "Traceback" not in done.stderr
    )
