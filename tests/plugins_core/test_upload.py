"""Uploading packages through the API: both guides' examples, immutability, and bad input."""
import json
import os

import pytest

from marketplace.models import Listing
from plugins_core.errors import PluginConflict
from plugins_core.models import Installation, Plugin, PluginVersion
from tests.conftest import make_tar_gz, make_zip, plugin_files, upload

pytestmark = pytest.mark.django_db


def nothing_stored(settings) -> bool:
    media = settings.MEDIA_ROOT
    stored_files = [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
    return not (Plugin.objects.exists() or PluginVersion.objects.exists() or Installation.objects.exists() or stored_files)


def test_sbh_guide_example_uploads_and_is_listed(owner, sbh_zip):
    response = upload(owner, sbh_zip, "my-plugin.zip")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "my-plugin" and body["version"] == "1.0.0"
    assert body["enabled"] is False
    assert set(body["permissions"]) == {"db.read", "outbound_http"}
    listed = owner.client.get("/api/plugins/").json()
    assert [item["slug"] for item in listed] == ["my-plugin"]
    assert listed[0]["id"] == body["id"]


def test_ops_center_guide_example_uploads_as_tar_gz(owner, ops_tar, settings):
    response = upload(owner, ops_tar, "my-plugin-1.0.0.tar.gz")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["config"] == {"threshold": 0.8, "enabled": True}
    version = PluginVersion.objects.get()
    assert version.package_format == "tar.gz"
    assert (settings.MEDIA_ROOT / "packages" / version.sha256[:2] / f"{version.sha256}.tar.gz").exists()
    assert Listing.objects.get(plugin__slug="my-plugin").category.slug == "monitoring"


def test_same_slug_and_version_again_answers_409(owner, sbh_zip):
    assert upload(owner, sbh_zip).status_code == 201
    response = upload(owner, sbh_zip)
    assert response.status_code == 409
    assert response.json()["error"]["details"][0]["field"] == "version"
    assert PluginVersion.objects.count() == 1


def test_a_new_version_upgrades_the_installation(owner):
    files = plugin_files("sbh-my-plugin")
    assert upload(owner, make_zip(files)).status_code == 201
    manifest = json.loads(files["plugin.json"])
    manifest["version"] = "1.1.0"
    files["plugin.json"] = json.dumps(manifest).encode()
    response = upload(owner, make_zip(files))
    assert response.status_code == 201
    assert response.json()["upgraded_from"] == "1.0.0"
    assert Installation.objects.get().version.version == "1.1.0"


def test_slugs_are_namespaced_by_publisher(owner, other_owner, sbh_zip, ops_tar):
    """Both guides' examples are called my-plugin; two publishers can each have one."""
    assert upload(owner, sbh_zip).status_code == 201
    response = upload(other_owner, ops_tar, "my-plugin-1.0.0.tar.gz")
    assert response.status_code == 201, response.json()
    assert Plugin.objects.filter(slug="my-plugin").count() == 2


def test_a_tenant_installs_one_plugin_per_slug(owner, other_owner, sbh_zip, ops_tar):
    from plugins_core.services import install_version

    upload(owner, sbh_zip)
    upload(other_owner, ops_tar, "p.tar.gz")
    foreign = PluginVersion.objects.get(plugin__publisher=other_owner.tenant)
    with pytest.raises(PluginConflict):
        install_version(owner.tenant, None, foreign)


def test_same_slug_and_version_in_one_tenant_says_how_to_proceed(owner, sbh_zip, ops_tar):
    assert upload(owner, sbh_zip).status_code == 201
    response = upload(owner, ops_tar, "p.tar.gz")
    assert response.status_code == 409
    assert "raise the version" in response.json()["error"]["message"]


def test_members_cannot_upload(make_actor, sbh_zip, settings):
    member = make_actor("acme", "member")
    response = upload(member, sbh_zip)
    assert response.status_code == 403
    assert "developer" in response.json()["error"]["message"]
    assert nothing_stored(settings)


def test_developers_upload_but_only_admins_enable(make_actor, sbh_zip):
    developer = make_actor("acme", "developer")
    admin = make_actor("acme", "admin")
    installation_id = upload(developer, sbh_zip).json()["id"]
    assert developer.client.post(f"/api/plugins/{installation_id}/enable").status_code == 403
    response = admin.client.post(f"/api/plugins/{installation_id}/enable")
    assert response.status_code == 200
    assert response.json()["enabled"] is True
    assert set(response.json()["granted_permissions"]) == {"db.read", "outbound_http"}


def test_upload_without_a_file_names_the_field(owner, settings):
    response = owner.client.post("/api/plugins/upload", {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "file"
    assert nothing_stored(settings)


def _sbh(**changes):
    files = plugin_files("sbh-my-plugin")
    manifest = json.loads(files["plugin.json"])
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    files["plugin.json"] = json.dumps(manifest).encode()
    return files


def _without(files, name):
    return {key: value for key, value in files.items() if key != name}


BAD_PACKAGES = [
    ("bad slug", lambda: make_zip(_sbh(slug="Not A Slug!")), "slug"),
    ("bad semver", lambda: make_zip(_sbh(version="1.0")), "version"),
    ("unknown permission", lambda: make_zip(_sbh(permissions=["db.read", "root.everything"])), "permissions[1]"),
    ("bad cron", lambda: make_zip(_sbh(jobs=[{"name": "daily_cleanup", "schedule": "61 * * * *"}])), "jobs[0].schedule"),
    ("missing name", lambda: make_zip(_sbh(name=None)), "name"),
    ("config_schema not a schema", lambda: make_zip(_sbh(config_schema={"type": "object", "properties": {"x": {"type": "nope"}}})), "config_schema"),
    ("entry escapes", lambda: make_zip(_sbh(entry="../main.py")), "entry"),
    ("not json", lambda: make_zip({**plugin_files("sbh-my-plugin"), "plugin.json": b"{nope"}), "plugin.json"),
    ("no manifest", lambda: make_zip(_without(plugin_files("sbh-my-plugin"), "plugin.json")), "file"),
    ("no entry file", lambda: make_zip(_without(plugin_files("sbh-my-plugin"), "main.py")), "entry"),
    ("syntax error", lambda: make_zip({**plugin_files("sbh-my-plugin"), "main.py": b"def broken(:\n"}), "main.py:1"),
    ("forbidden import", lambda: make_zip({**plugin_files("sbh-my-plugin"), "main.py": b"import json\nimport subprocess\n"}), "main.py:2"),
    ("absolute path", lambda: make_zip({**plugin_files("sbh-my-plugin"), "/etc/evil": b"x"}), "/etc/evil"),
    ("dot-dot path", lambda: make_zip({**plugin_files("sbh-my-plugin"), "../evil.py": b"x"}), "../evil.py"),
    ("not an archive", lambda: b"hello, I am not a zip", "file"),
    ("bad webhook", lambda: make_zip({**plugin_files("sbh-my-plugin"), "webhooks/n.yaml": b"api_version: v9\n"}), "webhooks/n.yaml"),
    ("tar with a symlink", None, "evil-link"),
]


def _tar_with_symlink() -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in plugin_files("sbh-my-plugin").items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("evil-link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    return buffer.getvalue()


def _ops(replace_from: str, replace_to: str) -> bytes:
    files = plugin_files("ops-my-plugin")
    files["plugin.yaml"] = files["plugin.yaml"].replace(replace_from.encode(), replace_to.encode())
    return make_tar_gz(files)


def _tar_with_device() -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in plugin_files("sbh-my-plugin").items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        device = tarfile.TarInfo("dev-null")
        device.type = tarfile.CHRTYPE
        archive.addfile(device)
    return buffer.getvalue()


BAD_PACKAGES += [
    ("route path without a slash", lambda: _ops("- path: /status", "- path: status"), "routes[0].path"),
    ("hook on an unknown event", lambda: _ops("- event: device.created", "- event: device.craeted"), "hooks[0].event"),
    ("hook handler the code lacks", lambda: _ops("handler: on_device_created", "handler: on_nothing"), "hooks[0].handler"),
    ("routes: false with @route", lambda: make_zip(_sbh(routes=False)), "routes"),
    ("a device file", _tar_with_device, "dev-null"),
]


@pytest.mark.parametrize(("case", "build", "field"), BAD_PACKAGES, ids=[case[0] for case in BAD_PACKAGES])
def test_bad_packages_answer_400_naming_the_field_and_store_nothing(owner, settings, case, build, field):
    data = _tar_with_symlink() if build is None else build()
    response = upload(owner, data, "plugin.tar.gz" if data[:2] == b"\x1f\x8b" else "plugin.zip")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    fields = [detail["field"] for detail in error["details"]]
    assert any(f == field or f.startswith(field) for f in fields), (field, error)
    assert nothing_stored(settings)


def test_every_problem_is_reported_at_once(owner):
    response = upload(owner, make_zip(_sbh(slug="BAD!", version="x", permissions=["nope"])))
    fields = {detail["field"] for detail in response.json()["error"]["details"]}
    assert {"slug", "version", "permissions[0]"} <= fields


def test_oversized_upload_is_refused_before_reading(owner, settings):
    settings.PLUGYARD_PACKAGE_LIMITS = {**settings.PLUGYARD_PACKAGE_LIMITS, "max_compressed_bytes": 1000}
    response = upload(owner, make_zip({**plugin_files("sbh-my-plugin"), "big.txt": b"x" * 5000}))
    assert response.status_code == 413
    assert response.json()["error"]["details"][0]["field"] == "file"
    assert nothing_stored(settings)


def test_zip_bomb_is_refused(owner, settings):
    response = upload(owner, make_zip({**plugin_files("sbh-my-plugin"), "bomb.txt": b"\0" * (20 * 1024 * 1024)}))
    assert response.status_code == 400
    codes = {detail["code"] for detail in response.json()["error"]["details"]}
    assert codes & {"compression_bomb", "archive_too_large"}
    assert nothing_stored(settings)


def test_too_many_entries_is_refused(owner, settings):
    settings.PLUGYARD_PACKAGE_LIMITS = {**settings.PLUGYARD_PACKAGE_LIMITS, "max_entries": 10}
    files = {**plugin_files("sbh-my-plugin"), **{f"static/{i}.txt": b"x" for i in range(20)}}
    response = upload(owner, make_zip(files))
    assert response.status_code == 400
    assert nothing_stored(settings)


def test_tar_gz_of_the_sbh_example_is_accepted_too(owner):
    response = upload(owner, make_tar_gz(plugin_files("sbh-my-plugin")), "my-plugin.tar.gz")
    assert response.status_code == 201, response.json()


def test_expanded_size_limit_is_enforced(owner, settings):
    settings.PLUGYARD_PACKAGE_LIMITS = {**settings.PLUGYARD_PACKAGE_LIMITS, "max_expanded_bytes": 2000}
    response = upload(owner, make_zip({**plugin_files("sbh-my-plugin"), "static/blob.bin": os.urandom(5000)}))
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] in {"file", "static/blob.bin"}
    assert nothing_stored(settings)
