"""Templates and examples (issue 11, point 6): `init --template` in both styles gives a plugin
that validates with no problems or warnings and whose own tests pass under the SDK's kit;
`--type` changes one manifest line; each example plugin validates and its tests pass."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from plugyard_sdk.cli import main
from plugyard_sdk.templates import STYLES, TEMPLATES, render

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
NEW_EXAMPLES = ["slack-notifier", "daily-kpi", "device-anomaly-detector"]


def _pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    """The plugin's own tests, as its author runs them: pytest in its folder, in a fresh process
    (every plugin's entry module is `main`), with the SDK's pytest plugin loaded by entry point."""
    # Without this suite's Django settings (pytest-django exports them): a plugin author has none.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder,
                          capture_output=True, text=True, timeout=120, env=env)


def _validate(folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(["validate", str(folder)])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_validates_cleanly_and_its_tests_pass(tmp_path: Path, template: str, style: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "my-plugin"
    assert main(["init", "my-plugin", "--template", template, "--style", style, "--directory", str(folder),
                 "--name", 'A "quoted" name', "--description", "It's {braces} and: colons"]) == 0
    manifest = "plugin.json" if style == "sbh" else "plugin.yaml"
    assert {manifest, "tests/test_main.py", "tests/conftest.py", "requirements.txt"} <= {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}

    out = _validate(folder, capsys)
    assert "OK: my-plugin 0.1.0 is valid" in out and "warning" not in out, out

    run = _pytest(folder)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "failed" not in run.stdout


@pytest.mark.parametrize("style", STYLES)
def test_type_changes_one_manifest_line(tmp_path: Path, style: str) -> None:
    texts = {}
    for kind in ("backend", "hybrid"):
        folder = tmp_path / kind
        assert main(["init", "my-plugin", "--template", "event-handler", "--style", style,
                     "--type", kind, "--directory", str(folder)]) == 0
        manifest = folder / ("plugin.json" if style == "sbh" else "plugin.yaml")
        texts[kind] = manifest.read_text().splitlines()
        loaded = json.loads(manifest.read_text()) if style == "sbh" else yaml.safe_load(manifest.read_text())
        assert loaded["type"] == kind
    changed = [(a, b) for a, b in zip(texts["backend"], texts["hybrid"], strict=True) if a != b]
    assert len(changed) == 1 and "backend" in changed[0][0] and "hybrid" in changed[0][1]


def test_an_unknown_template_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "my-plugin", "--template", "cron", "--directory", str(tmp_path / "x")]) == 2
    assert "invalid choice: 'cron'" in capsys.readouterr().err


def test_a_placeholder_the_template_does_not_know_is_a_bug_not_a_blank() -> None:
    assert render("{{slug_json}} {{name_py}}", {"slug": "a-b", "name": "It's"}) == '"a-b" "It\'s"'
    with pytest.raises(KeyError):
        render("{{nope}}", {"slug": "a"})


def test_the_templates_ship_in_the_wheel_as_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "sdk" / "pyproject.toml").read_text()
    assert 'plugyard_sdk = ["templates/*/*/*.tmpl", "templates/*/*/*/*.tmpl"]' in pyproject
    root = Path(__file__).resolve().parents[2] / "sdk" / "plugyard_sdk" / "templates"
    deepest = max(len(p.relative_to(root).parts) for p in root.rglob("*.tmpl"))
    assert deepest <= 4  # <template>/<style>/<dir>/<file>: the globs above reach every file


@pytest.mark.parametrize("example", NEW_EXAMPLES)
def test_each_example_validates_cleanly_and_its_tests_pass(example: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _validate(EXAMPLES / example, capsys)
    assert f"OK: {example} 1.0.0 is valid" in out and "warning" not in out, out
    run = _pytest(EXAMPLES / example)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_the_ops_guides_example_keeps_its_file_name_as_the_entry() -> None:
    manifest = yaml.safe_load((EXAMPLES / "device-anomaly-detector" / "plugin.yaml").read_text())
    assert manifest["runtime"]["entrypoint"] == "device_anomaly_detector.py"
    assert (EXAMPLES / "device-anomaly-detector" / "device_anomaly_detector.py").is_file()
