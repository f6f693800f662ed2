"""The product raises real events from its own actions: members, tenants, files, webhooks."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from plugins_core.models import Event
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def _types(tenant):
    return list(Event.objects.for_tenant(tenant).order_by("id").values_list("type", flat=True))


def test_member_lifecycle_emits_auth_and_user_events(owner):
    created = owner.client.post("/api/members/", {"email": "new@acme.test", "role": "member"}, format="json")
    assert created.status_code == 201, created.content
    member_id = created.json()["id"]
    assert owner.client.patch(f"/api/members/{member_id}", {"role": "developer"}, format="json").status_code == 200
    assert owner.client.delete(f"/api/members/{member_id}").status_code == 204
    types = [t for t in _types(owner.tenant) if t.startswith(("auth.user", "user."))]
    assert types[-5:] == ["auth.user.created", "user.created", "auth.user.updated", "user.updated", "auth.user.deleted"]
    event = Event.objects.filter(type="auth.user.created").order_by("id").last()
    assert event.payload["user"]["email"] == "new@acme.test"


@pytest.mark.parametrize("body", [{"email": "nope"}, {"email": "a@b.test", "role": "emperor"}, {}])
def test_member_bad_input_is_a_400_naming_the_field(owner, body):
    response = owner.client.post("/api/members/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]


def test_members_cannot_add_members_and_admins_cannot_mint_owners(make_actor):
    member, admin = make_actor("acme", "member"), make_actor("acme", "admin")
    assert member.client.post("/api/members/", {"email": "x@acme.test"}, format="json").status_code == 403
    assert admin.client.post("/api/members/", {"email": "x@acme.test", "role": "owner"}, format="json").status_code == 403


def test_tenant_creation_emits_organization_created(db):
    tenant = Tenant.objects.create(slug="initech", name="Initech")
    assert _types(tenant) == ["organization.created"]


def test_file_upload_and_delete_emit_files_events(owner):
    upload = owner.client.post("/api/files/", {"path": "reports/a.txt", "file": SimpleUploadedFile("a.txt", b"hi")}, format="multipart")
    assert upload.status_code == 201, upload.content
    assert owner.client.get("/api/files/", {"prefix": "reports/"}).json()["files"] == ["reports/a.txt"]
    assert owner.client.delete("/api/files/reports/a.txt").status_code == 204
    assert owner.client.delete("/api/files/reports/a.txt").status_code == 404
    bad = owner.client.post("/api/files/", {"path": "../escape", "file": SimpleUploadedFile("a", b"x")}, format="multipart")
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "path"
    assert [t for t in _types(owner.tenant) if t.startswith("files.")] == ["files.uploaded", "files.deleted"]


def test_inbound_webhook_emits_webhook_received(owner):
    response = owner.client.post("/api/webhooks/inbound/github", {"action": "opened"}, format="json", HTTP_X_GITHUB_EVENT="issues")
    assert response.status_code == 202
    event = Event.objects.get(type="webhook.received")
    assert event.payload["source"] == "github" and event.payload["body"] == {"action": "opened"}
    assert "Authorization" not in event.payload["headers"]
    assert owner.client.post("/api/webhooks/inbound/bad source!", {}, format="json").status_code in (400, 404)
