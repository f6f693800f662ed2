"""Secrets a plugin needs: declared in either manifest style, read in its code, used by webhooks."""

from __future__ import annotations

import json

import pytest
import yaml
from plugyard_sdk.manifest import SecretSpec, parse_manifest
from plugyard_sdk.package import read_package
from plugyard_sdk.problems import PackageInvalid

from .conftest import OPS_PLUGIN_YAML, make_tar, make_zip, sbh_manifest

DECLARED = [{"name": "API_KEY", "description": "The weather service's key"}, "REGION_TOKEN"]


def test_both_manifest_styles_declare_secrets_by_name_and_description() -> None:
    # Given the same secrets in plugin.json and in plugin.yaml
    ops = yaml.safe_load(OPS_PLUGIN_YAML)
    ops["secrets"] = DECLARED
    sbh = parse_manifest("plugin.json", sbh_manifest(secrets=DECLARED))
    ops_manifest = parse_manifest("plugin.yaml", yaml.safe_dump(ops).encode())
    # then both parse to the same list, the bare name being short for {name: …}
    expected = [SecretSpec(name="API_KEY", description="The weather service's key"), SecretSpec(name="REGION_TOKEN")]
    assert sbh.secrets == ops_manifest.secrets == expected


def test_the_guides_manifests_declare_none() -> None:
    assert parse_manifest("plugin.json", sbh_manifest()).secrets == []
    assert parse_manifest("plugin.yaml", OPS_PLUGIN_YAML.encode()).secrets == []


@pytest.mark.parametrize(
    ("secrets", "field", "code"),
    [
        (["API_KEY", {"name": "API_KEY"}], "secrets[1]", "duplicate"),
        ([{"name": "9LIVES"}], "secrets[0].name", "invalid_identifier"),
        ([{"description": "no name"}], "secrets[0].name", "required"),
        ([{"name": "A", "value": "never in a manifest"}], "secrets[0].value", "unknown_field"),
        ([42], "secrets[0]", "invalid_type"),
    ],
)
def test_a_bad_secret_declaration_is_named_by_field(secrets, field, code) -> None:
    with pytest.raises(PackageInvalid) as info:
        parse_manifest("plugin.json", sbh_manifest(secrets=secrets))
    assert (field, code) in {(p.field, p.code) for p in info.value.problems}


CODE = '''
from src.ext.sdk import hook

# ctx.secrets.get("IN_A_COMMENT") is not a call
@hook("build.completed")
def on_build(ctx, event_data):
    """Reads ctx.secrets.get("IN_A_DOCSTRING") too, in words only."""
    key = ctx.secrets.get("API_KEY")
    other = ctx.secrets.get(name="SECOND")
    built = ctx.secrets.get("PREFIX_" + event_data["x"])  # not knowable before it runs
    return key, other, built
'''
OPS_CODE = '''
from ops_center_sdk import Plugin

plugin = Plugin(id="my-plugin", name="My Plugin", version="1.0.0")


@plugin.hook("device.created")
async def on_device_created(device_id, device_data):
    token = await plugin.secrets.get('DEVICE_TOKEN')
    return token
'''


def test_the_package_adds_secrets_its_code_reads_and_its_webhooks_use(sbh_files) -> None:
    # Given the SBH guide's package (its webhook uses two secrets), a declared secret, and
    # code that reads that one and another
    sbh_files["plugin.json"] = sbh_manifest(secrets=[{"name": "API_KEY", "description": "Key"}])
    sbh_files["main.py"] = CODE.encode()
    package = read_package(make_zip(sbh_files))
    # then the manifest lists every one, once, saying where it is used
    assert [(s.name, s.declared, s.used_in) for s in package.manifest.secrets] == [
        ("API_KEY", True, ["main.py"]),
        ("SECOND", False, ["main.py"]),
        ("WEBHOOK_URL", False, ["webhooks/notifications.yaml"]),
        ("WEBHOOK_SIGNING_KEY", False, ["webhooks/notifications.yaml"]),
    ]
    assert package.manifest.secrets[0].description == "Key"
    assert "secrets" in package.manifest.to_dict()


def test_an_ops_center_plugin_reading_a_secret_needs_it(ops_files) -> None:
    ops_files["main.py"] = OPS_CODE.encode()
    package = read_package(make_tar(ops_files))
    assert [(s.name, s.used_in) for s in package.manifest.secrets] == [("DEVICE_TOKEN", ["main.py"])]


def test_the_guides_ops_plugin_needs_no_secret(ops_files) -> None:
    assert read_package(make_tar(ops_files)).manifest.secrets == []


def test_the_manifest_round_trips_as_json(sbh_files) -> None:
    sbh_files["plugin.json"] = sbh_manifest(secrets=DECLARED)
    data = read_package(make_zip(sbh_files)).manifest.to_dict()
    assert json.loads(json.dumps(data))["secrets"][0] == {
        "name": "API_KEY", "description": "The weather service's key", "declared": True, "used_in": [],
    }


def test_validate_names_the_secrets_to_set_before_enabling(sbh_files, tmp_path, capsys) -> None:
    from plugyard_sdk.cli import main

    sbh_files["plugin.json"] = sbh_manifest(secrets=["API_KEY"], permissions=["db.read", "outbound_http", "emit_webhook"])
    for path, data in sbh_files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    assert main(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "needs secrets (set them before enabling): API_KEY, WEBHOOK_URL, WEBHOOK_SIGNING_KEY" in out
