"""Bearer token + X-Tenant-Slug authentication, and the one error shape for its failures."""
import pytest

from tenants.models import ApiToken

pytestmark = pytest.mark.django_db


def test_missing_token_answers_401_with_the_error_shape(client):
    response = client.get("/api/plugins/", HTTP_X_TENANT_SLUG="acme")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert "Authorization" in response.json()["error"]["message"]


def test_missing_tenant_header_is_named(owner, client):
    response = client.get("/api/plugins/", HTTP_AUTHORIZATION=f"Bearer {owner.token}")
    assert response.status_code == 401
    assert "X-Tenant-Slug" in response.json()["error"]["message"]


def test_token_of_another_tenant_is_refused(owner, other_owner, client):
    response = client.get(
        "/api/plugins/", HTTP_AUTHORIZATION=f"Bearer {owner.token}", HTTP_X_TENANT_SLUG=other_owner.tenant.slug
    )
    assert response.status_code == 401
    assert "does not belong" in response.json()["error"]["message"]


def test_unknown_and_malformed_tokens_are_refused(owner, client):
    for token in ["pyd_deadbeef_nope", "garbage", "pyd__", owner.token + "x"]:
        response = client.get("/api/plugins/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_TENANT_SLUG="acme")
        assert response.status_code == 401, token


def test_revoked_token_stops_working(owner):
    assert owner.client.get("/api/plugins/").status_code == 200
    ApiToken.objects.get(membership=owner.membership).revoke()
    assert owner.client.get("/api/plugins/").status_code == 401


def test_token_is_stored_hashed_with_a_visible_prefix_and_records_use(owner):
    token = ApiToken.objects.get(membership=owner.membership)
    assert owner.token not in token.token_hash
    assert owner.token.startswith(f"pyd_{token.prefix}_")
    assert token.last_used_at is None
    owner.client.get("/api/plugins/")
    token.refresh_from_db()
    assert token.last_used_at is not None
