"""Shared fixtures: tenants with a token per role, an API client, and plugin archives."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURE_PLUGINS = Path(__file__).parent / "fixtures" / "plugins"


@pytest.fixture(scope="session", autouse=True)
def sandbox_service():
    """The real sandbox service for the whole session: every plugin call in the suite (and in
    the Celery workers the integration tests start) goes through it, as in production."""
    from django.conf import settings

    from plugins_core import sandboxes
    from tests.sandboxd import SandboxService

    path = f"/tmp/plugyard-test-{os.getpid()}.sock"
    service = SandboxService(path).start()
    previous = os.environ.get("PLUGYARD_SANDBOX_SOCKET")
    os.environ["PLUGYARD_SANDBOX_SOCKET"] = path
    settings.PLUGYARD_SANDBOX["socket_path"] = path
    sandboxes.reset()
    yield service
    service.stop()
    sandboxes.reset()
    if previous is None:
        os.environ.pop("PLUGYARD_SANDBOX_SOCKET", None)
    else:
        os.environ["PLUGYARD_SANDBOX_SOCKET"] = previous


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    """Every test writes packages and unpacked plugins to its own directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PLUGYARD_PLUGIN_ROOT = tmp_path / "plugins"


def plugin_files(name: str) -> dict[str, bytes]:
    root = FIXTURE_PLUGINS / name
    return {
        str(path.relative_to(root)).replace(os.sep, "/"): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def make_tar_gz(files: dict[str, bytes], top: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Actor:
    """A member of a tenant, with a client that sends their token and tenant headers."""

    tenant: object
    membership: object
    token: str
    client: object

    def headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}", "HTTP_X_TENANT_SLUG": self.tenant.slug}


def _actor(tenant, role: str, email: str) -> Actor:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from tenants.models import ApiToken, Membership

    user = get_user_model().objects.create(username=email, email=email)
    membership = Membership.objects.create(user=user, tenant=tenant, role=role)
    _, token = ApiToken.issue(membership)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_TENANT_SLUG=tenant.slug)
    return Actor(tenant, membership, token, client)


@pytest.fixture
def make_actor(db) -> Callable[..., Actor]:
    from tenants.models import Tenant

    def make(tenant_slug: str = "acme", role: str = "owner") -> Actor:
        tenant, _ = Tenant.objects.get_or_create(slug=tenant_slug, defaults={"name": tenant_slug.title()})
        return _actor(tenant, role, f"{role}-{tenant.memberships.count()}@{tenant_slug}.test")

    return make


@pytest.fixture
def owner(make_actor) -> Actor:
    return make_actor("acme", "owner")


@pytest.fixture
def other_owner(make_actor) -> Actor:
    return make_actor("globex", "owner")


@pytest.fixture
def sbh_zip() -> bytes:
    return make_zip(plugin_files("sbh-my-plugin"))


@pytest.fixture
def ops_tar() -> bytes:
    return make_tar_gz(plugin_files("ops-my-plugin"), top="my-plugin-1.0.0")


def upload(actor: Actor, data: bytes, filename: str = "plugin.zip"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return actor.client.post(
        "/api/plugins/upload", {"file": SimpleUploadedFile(filename, data)}, format="multipart"
    )
