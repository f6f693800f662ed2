"""Secrets: write-only through the API, encrypted at rest, never echoed or logged, rotatable."""
import logging
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from plugins_core.models import Secret
from plugins_core.secrets import read_secret
from tests.conftest import upload

pytestmark = pytest.mark.django_db

SECRET_VALUE = "sk_live_VERY-SECRET-4242-value"


@pytest.fixture
def installation_id(owner, ops_tar) -> int:
    return upload(owner, ops_tar, "p.tar.gz").json()["id"]


def _all_text_in_database() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value).decode("latin-1"))
                    else:
                        chunks.append(str(value))
    return "\n".join(chunks)


def test_a_secret_value_appears_in_no_response_no_log_and_no_column(owner, installation_id, caplog):
    caplog.set_level(logging.DEBUG)
    responses = [
        owner.client.put(f"/api/plugins/{installation_id}/secrets/API_KEY", {"value": SECRET_VALUE}, format="json"),
        owner.client.get(f"/api/plugins/{installation_id}/secrets"),
        owner.client.get(f"/api/plugins/{installation_id}"),
        owner.client.get("/api/plugins/"),
        owner.client.put(f"/api/plugins/{installation_id}/secrets/bad-name!", {"value": SECRET_VALUE}, format="json"),
        owner.client.put(f"/api/plugins/{installation_id}/secrets/API_KEY", {"value": SECRET_VALUE, "x": 1}, format="json"),
    ]
    assert responses[0].status_code == 204
    assert responses[1].json() == {"secrets": ["API_KEY"]}
    assert responses[4].status_code == 400
    for response in responses:
        assert SECRET_VALUE not in response.content.decode()
    assert SECRET_VALUE not in caplog.text
    assert SECRET_VALUE not in _all_text_in_database()
    installation = Secret.objects.get().installation
    assert read_secret(installation, "API_KEY") == SECRET_VALUE


def test_delete_secret(owner, installation_id):
    owner.client.put(f"/api/plugins/{installation_id}/secrets/API_KEY", {"value": "v"}, format="json")
    assert owner.client.delete(f"/api/plugins/{installation_id}/secrets/API_KEY").status_code == 204
    assert owner.client.delete(f"/api/plugins/{installation_id}/secrets/API_KEY").status_code == 404
    assert not Secret.objects.exists()


@pytest.mark.parametrize("body", [{}, {"value": ""}, {"value": 12}, ["x"], {"value": "x" * 70000}])
def test_bad_secret_bodies_name_the_field(owner, installation_id, body):
    response = owner.client.put(f"/api/plugins/{installation_id}/secrets/API_KEY", body, format="json")
    assert response.status_code == 400
    assert not Secret.objects.exists()


def test_developers_cannot_set_secrets(make_actor, installation_id):
    developer = make_actor("acme", "developer")
    response = developer.client.put(f"/api/plugins/{installation_id}/secrets/API_KEY", {"value": "v"}, format="json")
    assert response.status_code == 403


def test_rotating_keys_keeps_secrets_readable(owner, installation_id, settings):
    owner.client.put(f"/api/plugins/{installation_id}/secrets/API_KEY", {"value": SECRET_VALUE}, format="json")
    old_key = settings.PLUGYARD_FERNET_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.PLUGYARD_FERNET_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_secret_keys", stdout=out)
    assert "1 secret" in out.getvalue()
    settings.PLUGYARD_FERNET_KEYS = [new_key]
    assert read_secret(Secret.objects.get().installation, "API_KEY") == SECRET_VALUE
