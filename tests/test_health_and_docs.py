"""The contract's unauthenticated endpoints: health, the OpenAPI schema and its docs page."""
import pytest

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_schema_lists_the_contract_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["/api/plugins/", "/api/plugins/upload", "/api/plugins/{id}/enable",
                 "/api/plugins/{id}/secrets/{name}", "/api/plugins/{id}/config"]:
        assert path in paths, path


def test_docs_page_serves_its_assets_locally(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert b"cdn.jsdelivr" not in response.content
