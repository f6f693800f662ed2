"""Every endpoint that takes an installation id answers 404 for another tenant's id."""
import pytest

from plugins_core.models import Installation, Secret
from plugins_core.secrets import set_secret
from tests.conftest import upload

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/api/plugins/{id}", None),
    ("delete", "/api/plugins/{id}", None),
    ("post", "/api/plugins/{id}/enable", None),
    ("post", "/api/plugins/{id}/disable", None),
    ("get", "/api/plugins/{id}/secrets", None),
    ("put", "/api/plugins/{id}/secrets/API_KEY", {"value": "stolen"}),
    ("delete", "/api/plugins/{id}/secrets/API_KEY", None),
    ("get", "/api/plugins/{id}/config", None),
    ("patch", "/api/plugins/{id}/config", {"threshold": 0.1}),
    ("get", "/api/plugins/{id}/invocations", None),
    ("get", "/api/plugins/{id}/webhooks/deliveries", None),
    ("get", "/api/plugins/{id}/webhooks/deliveries/1", None),
    ("post", "/api/plugins/{id}/webhooks/deliveries/1/redeliver", None),
    ("post", "/api/plugins/{id}/submit", None),
    ("post", "/api/plugins/{id}/dev", None),
    ("delete", "/api/plugins/{id}/dev", None),
    ("get", "/api/invocations/{id}/replay", None),  # the victim's first invocation has a small id too
]


def test_the_matrix_covers_every_route_that_takes_an_id():
    from plugins_core.urls import urlpatterns

    with_id = {str(p.pattern) for p in urlpatterns if "<int:pk>" in str(p.pattern)}
    covered = {path.replace("/api/", "").replace("{id}", "<int:pk>").replace("API_KEY", "<str:name>")
               .replace("/deliveries/1", "/deliveries/<int:delivery_id>") for _, path, _ in ENDPOINTS}
    assert with_id - {"plugins/<int:pk>/"} <= covered


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_another_tenants_installation_is_404(owner, other_owner, ops_tar, method, path, body):
    victim_id = upload(owner, ops_tar, "p.tar.gz").json()["id"]
    victim = Installation.objects.get(pk=victim_id)
    set_secret(victim, "API_KEY", "victim-secret")
    before = (victim.enabled, victim.config, Secret.objects.count())

    call = getattr(other_owner.client, method)
    response = call(path.format(id=victim_id), body, format="json") if body else call(path.format(id=victim_id))

    assert response.status_code == 404, (method, path, response.status_code)
    assert "victim-secret" not in response.content.decode()
    victim.refresh_from_db()
    assert (victim.enabled, victim.config, Secret.objects.count()) == before


def test_the_list_shows_only_the_callers_installations(owner, other_owner, ops_tar):
    upload(owner, ops_tar, "p.tar.gz")
    assert other_owner.client.get("/api/plugins/").json() == []
