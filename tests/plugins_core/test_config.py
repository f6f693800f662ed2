"""PATCH /api/plugins/<id>/config is validated against the version's config_schema."""
import pytest

from plugins_core.models import Installation
from tests.conftest import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def installation_id(owner, ops_tar) -> int:
    return upload(owner, ops_tar, "p.tar.gz").json()["id"]


def test_defaults_are_applied_and_changes_merge(owner, installation_id):
    response = owner.client.patch(f"/api/plugins/{installation_id}/config", {"threshold": 0.5}, format="json")
    assert response.status_code == 200
    assert response.json()["config"] == {"threshold": 0.5, "enabled": True}


def test_a_wrong_type_names_the_key_and_changes_nothing(owner, installation_id):
    response = owner.client.patch(f"/api/plugins/{installation_id}/config", {"threshold": "high"}, format="json")
    assert response.status_code == 400
    assert any("threshold" in d["field"] for d in response.json()["error"]["details"])
    assert Installation.objects.get().config == {"threshold": 0.8, "enabled": True}


@pytest.mark.parametrize("body", [["threshold"], "text", 5])
def test_a_body_that_is_not_an_object_is_refused(owner, installation_id, body):
    response = owner.client.patch(f"/api/plugins/{installation_id}/config", body, format="json")
    assert response.status_code == 400


def test_malformed_json_is_a_400(owner, installation_id):
    response = owner.client.generic(
        "PATCH", f"/api/plugins/{installation_id}/config", "{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_members_read_but_cannot_configure(make_actor, installation_id):
    member = make_actor("acme", "member")
    assert member.client.get(f"/api/plugins/{installation_id}/config").status_code == 200
    assert member.client.patch(f"/api/plugins/{installation_id}/config", {"threshold": 0.1}, format="json").status_code == 403
