"""The SDK installs the way the guides say: a new plugin's requirements.txt works in a fresh
venv (the SDK is on no index: it names the checkout's sdk/), the Ops-Center guide's async
tests pass there as printed (the SDK's pytest plugin runs them; no pytest-asyncio), and
`make sdk`'s wheel carries all three import names and the plugin's entry point.

Slow (a venv and a pip install from PyPI, about a minute), so one venv serves every check.
"""
from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from plugyard_sdk.cli import main

SDK_DIR = Path(__file__).resolve().parents[2] / "sdk"

# The Ops-Center guide's "Testing" section, both code blocks exactly as printed.
GUIDE_TESTS = '''from ops_center_sdk.testing import create_test_plugin, trigger_hook
import pytest


@pytest.mark.asyncio
async def test_device_hook():
    # Create test plugin with mocks
    plugin = create_test_plugin("test-plugin")

    # Register your hook
    @plugin.hook("device.created")
    async def on_device_created(device_id: str, device_data: dict):
        await plugin.storage.set(f"device:{device_id}", device_data)

    # Trigger the hook
    await trigger_hook(
        plugin,
        "device.created",
        device_id="device-123",
        device_data={"name": "Test Device"}
    )

    # Verify behavior
    stored = await plugin.storage.get("device:device-123")
    assert stored["name"] == "Test Device"


@pytest.mark.asyncio
async def test_api_calls():
    plugin = create_test_plugin("test-plugin")

    # Create mock device
    device = await plugin.api.devices.create({
        "name": "Test Device",
        "type": "server"
    })

    # Verify
    assert device["name"] == "Test Device"

    # Check API was called
    requests = plugin.api.get_requests(method="POST", endpoint="/devices")
    assert len(requests) == 1


def test_with_fixtures(plugin, mock_api, mock_storage):
    """Use pytest fixtures"""
    assert plugin.metadata.id == "test-plugin"
'''


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A plugin from `init`, its requirements installed in a fresh venv: (folder, venv bin)."""
    root = tmp_path_factory.mktemp("author")
    assert main(["init", "my-plugin", "--directory", str(root / "my-plugin")]) == 0
    venv.create(root / "venv", with_pip=True, clear=True)
    bin_dir = root / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "-r", "requirements.txt"], root / "my-plugin")
    return root / "my-plugin", bin_dir


def test_the_scaffolds_requirements_name_the_sdk_folder_not_an_index(project) -> None:
    folder, _ = project
    text = (folder / "requirements.txt").read_text()
    assert f"plugyard-sdk @ {SDK_DIR.as_uri()}" in text.splitlines()
    assert "make sdk" in text  # the comment says where the wheel comes from


def test_a_fresh_venv_validates_and_runs_the_new_plugins_tests(project) -> None:
    folder, bin_dir = project
    assert "OK: my-plugin 0.1.0 is valid" in _run([str(bin_dir / "ops-center-plugin"), "validate"], folder).stdout
    _run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], folder)


def test_the_ops_center_guides_async_tests_pass_as_printed(project) -> None:
    folder, bin_dir = project
    (folder / "tests" / "test_guide.py").write_text(GUIDE_TESTS)
    done = _run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_guide.py"],
                folder)
    assert "3 passed" in done.stdout and "warning" not in done.stdout.lower()
    listed = _run([str(bin_dir / "python"), "-m", "pip", "list"], folder).stdout.lower()
    assert "pytest-asyncio" not in listed  # the SDK's own plugin ran them


def test_the_wheel_carries_every_import_name_and_the_pytest_plugin(tmp_path: Path) -> None:
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(tmp_path), str(SDK_DIR)],
         tmp_path)
    [wheel] = tmp_path.glob("plugyard_sdk-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("plugyard_sdk/validation.py", "plugyard_sdk/events.py", "ops_center_sdk/pytest_plugin.py",
                   "src/ext/sdk/__init__.py"):
        assert module in names
    [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "ops_center_sdk.pytest_plugin" in text
