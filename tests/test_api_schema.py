"""The OpenAPI schema a client drives the API with (config/openapi.py): valid, warning-free,
and complete for every operation — security, a description written for clients, a schema
for every answer, the error envelope on every error, the upload as a binary file, /ext.
"""
from __future__ import annotations

import inspect

import pytest
import yaml
from django.core.management import call_command
from django.urls import get_resolver

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    """The schema as `manage.py spectacular --validate` writes it (it exits on an invalid schema)."""
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_the_schema_generates_without_a_warning(tmp_path):
    # A warning is a schema that lies a little: a guessed type, a renamed operation id, a view left out.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def _docstrings() -> set[str]:
    """Every docstring of a view the URLs reach, as drf-spectacular would have shown it."""
    docs: set[str] = set()
    for pattern in get_resolver().url_patterns:
        stack = [pattern]
        while stack:
            item = stack.pop()
            stack.extend(getattr(item, "url_patterns", []))
            view = getattr(getattr(item, "callback", None), "cls", None)
            if view is None:
                continue
            for owner in [view, *(getattr(view, name) for name in METHODS if hasattr(view, name))]:
                doc = inspect.getdoc(owner)
                if doc:
                    docs.add(doc.strip())
    return docs


def test_every_operation_has_security_and_a_description_for_clients(schema):
    docstrings = _docstrings()
    assert schema["components"]["securitySchemes"] == {
        "bearerAuth": {**schema["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"},
        "tenantSlug": {**schema["components"]["securitySchemes"]["tenantSlug"], "type": "apiKey", "in": "header",
                       "name": "X-Tenant-Slug"},
    }
    for label, operation in _operations(schema):
        assert operation.get("security"), label
        description = operation.get("description", "")
        body = description.split("**Who may call:**")[0].strip()
        assert body, f"{label} has no description"
        assert body not in docstrings, f"{label} is described by a docstring"
        assert "**Who may call:**" in description, label


def test_the_tenant_header_is_optional_on_me_only(schema):
    both = {"bearerAuth": [], "tenantSlug": []}
    for label, operation in _operations(schema):
        expected = [both, {"bearerAuth": []}] if label == "GET /api/me" else [both]
        assert operation["security"] == expected, label


def test_every_answer_has_a_schema_and_every_error_the_envelope(schema):
    envelope = {"$ref": "#/components/schemas/Error"}
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    for label, operation in _operations(schema):
        responses = operation["responses"]
        assert "401" in responses, label
        for status, response in responses.items():
            if status == "204":
                assert "content" not in response, label
                continue
            assert response.get("content"), f"{label} {status} has no body schema"
            for media, content in response["content"].items():
                assert "schema" in content, f"{label} {status} {media}"
            if status.isdigit() and int(status) >= 400:
                assert response["content"] == {"application/json": {"schema": envelope}}, f"{label} {status}"


def test_the_upload_is_a_multipart_binary_file_with_links_to_the_installation(schema):
    upload = schema["paths"]["/api/plugins/upload"]["post"]
    body = upload["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    ref = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][ref]["properties"]["file"] == {
        **schema["components"]["schemas"][ref]["properties"]["file"], "type": "string", "format": "binary"}
    links = upload["responses"]["201"]["links"]
    assert links["plugins_enable_create"]["parameters"] == {"id": "$response.body#/id"}
    assert links["plugins_enable_create"]["operationRef"] == "#/paths/~1api~1plugins~1{id}~1enable/post"


def test_plugin_routes_are_described(schema):
    route = schema["paths"]["/ext/{slug}/{subpath}"]
    assert set(route) >= {"get", "post", "put", "patch", "delete"}
    answers = route["get"]["responses"]
    assert {"200", "401", "404", "405", "413", "429", "502", "503", "504", "default"} <= set(answers)
    assert set(answers["200"]["content"]) == {"application/json", "text/plain"}
    assert "rate" in route["get"]["description"].lower() and "deadline" in route["get"]["description"]
