"""Readiness: enabling needs every required setting and every needed secret, whoever enables.

The guides' plugins and the demo's need neither, so they enable right after upload as
before; a plugin that reads a secret or signs its webhooks waits until it is set.
"""
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from plugins_core import readiness, secrets, services
from plugins_core.errors import NotReady
from plugins_core.models import Installation, PluginVersion
from tests.conftest import make_tar_gz, make_zip, plugin_files, upload

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
GUIDE_WEBHOOKS = Path(__file__).resolve().parents[1] / "webhooks" / "plugins" / "guide-webhooks"


def _uploaded(actor, data: bytes, filename: str = "plugin.zip") -> Installation:
    response = upload(actor, data, filename)
    assert response.status_code == 201, response.content
    return Installation.objects.select_related("version", "plugin").get(pk=response.json()["id"])


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and "__pycache__" not in p.parts}


@pytest.mark.parametrize("package", ["sbh", "ops", "welcome-email", "device-monitor"])
def test_the_guides_and_demo_plugins_are_ready_as_uploaded(owner, package):
    data = {
        "sbh": lambda: make_zip(plugin_files("sbh-my-plugin")),
        "ops": lambda: make_tar_gz(plugin_files("ops-my-plugin"), top="my-plugin-1.0.0"),
        "welcome-email": lambda: make_zip(_files(EXAMPLES / "welcome-email")),
        "device-monitor": lambda: make_zip(_files(EXAMPLES / "device-monitor")),
    }[package]()
    installation = _uploaded(owner, data)
    state = services.installation_readiness(installation)
    assert state.ready and state.missing == [] and state.secrets == []
    assert owner.client.post(f"/api/plugins/{installation.pk}/enable").status_code == 200


def test_the_guides_webhook_plugin_waits_for_both_of_its_secrets(owner):
    installation = _uploaded(owner, make_zip(_files(GUIDE_WEBHOOKS)))
    state = readiness.readiness(installation)
    assert [(s.name, s.used_in) for s in state.secrets] == [
        ("WEBHOOK_URL", ["webhooks/notifications.yaml"]), ("WEBHOOK_SIGNING_KEY", ["webhooks/notifications.yaml"]),
    ]
    assert [m.as_dict()["field"] for m in state.missing] == ["secrets.WEBHOOK_URL", "secrets.WEBHOOK_SIGNING_KEY"]

    secrets.set_secret(installation, "WEBHOOK_URL", "https://hooks.example/x")
    with pytest.raises(NotReady) as refused:
        services.enable(installation)
    assert [d["field"] for d in refused.value.details] == ["secrets.WEBHOOK_SIGNING_KEY"]
    installation.refresh_from_db()
    assert installation.enabled is False

    secrets.set_secret(installation, "WEBHOOK_SIGNING_KEY", "whsec_c2VjcmV0")
    assert services.enable(installation).enabled is True


def test_a_version_stored_before_manifests_listed_secrets_still_needs_its_webhooks_ones(owner):
    installation = _uploaded(owner, make_zip(_files(GUIDE_WEBHOOKS)))
    manifest = {k: v for k, v in installation.version.manifest.items() if k != "secrets"}
    PluginVersion.objects.filter(pk=installation.version_id).update(manifest=manifest)
    installation.refresh_from_db()
    assert [s.name for s in readiness.needed_secrets(installation.version)] == ["WEBHOOK_URL", "WEBHOOK_SIGNING_KEY"]


def test_a_setting_the_schema_no_longer_accepts_is_named_with_the_validators_code(owner):
    installation = _uploaded(owner, make_tar_gz(plugin_files("ops-my-plugin"), top="p"), "p.tar.gz")
    assert readiness.readiness(installation).ready
    schema = {**installation.version.config_schema, "required": ["region"],
              "properties": {**installation.version.config_schema["properties"], "region": {"type": "string"}}}
    PluginVersion.objects.filter(pk=installation.version_id).update(config_schema=schema)
    Installation.objects.filter(pk=installation.pk).update(config={"threshold": "high", "enabled": True})
    installation = Installation.objects.select_related("version", "plugin").get(pk=installation.pk)

    missing = readiness.readiness(installation).missing
    assert [(m.field, m.code) for m in missing] == [("config.region", "required"), ("config.threshold", "invalid_type")]
    assert missing[1].message == "The setting threshold is not valid: 'high' is not of type 'number'"


def test_staff_enabling_in_the_admin_is_refused_with_a_message(client, owner):
    installation = _uploaded(owner, make_zip(_files(GUIDE_WEBHOOKS)))
    staff = get_user_model().objects.create_superuser("staff", "staff@x.test", "pw-long-enough-1")
    client.force_login(staff)
    changelist = reverse("admin:plugins_core_installation_changelist")
    response = client.post(changelist, {"action": "enable_selected", "_selected_action": [installation.pk]}, follow=True)
    assert response.status_code == 200
    assert "cannot be enabled until these are set: secrets.WEBHOOK_URL, secrets.WEBHOOK_SIGNING_KEY" in response.content.decode()
    installation.refresh_from_db()
    assert installation.enabled is False
