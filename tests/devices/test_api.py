"""The devices API: CRUD with the tenant token, roles, events, and another tenant's ids answering 404."""
from __future__ import annotations

import pytest

from devices.models import Alert, Device
from plugins_core.events.models import Event

pytestmark = pytest.mark.django_db


def results(response):
    body = response.json()
    return body["results"] if isinstance(body, dict) and "results" in body else body


def test_device_crud(owner):
    created = owner.client.post("/api/devices/", {"name": "New Device", "type": "server"}, format="json")
    assert created.status_code == 201, created.content
    device_id = created.json()["id"]
    assert owner.client.get(f"/api/devices/{device_id}/").json()["name"] == "New Device"
    assert owner.client.get(f"/api/devices/{device_id}").status_code == 200  # with or without the slash
    patched = owner.client.patch(f"/api/devices/{device_id}/", {"status": "maintenance"}, format="json")
    assert patched.status_code == 200 and patched.json()["status"] == "maintenance"
    assert [d["id"] for d in results(owner.client.get("/api/devices/?status=maintenance"))] == [device_id]
    assert results(owner.client.get("/api/devices/?status=online")) == []
    assert owner.client.delete(f"/api/devices/{device_id}/").status_code == 204
    assert not Device.objects.exists()
    types = list(Event.objects.filter(type__startswith="device.").order_by("id").values_list("type", flat=True))
    assert types == ["device.created", "device.updated", "device.deleted"]
    assert Event.objects.get(type="device.created").payload["device_data"]["name"] == "New Device"


def test_invalid_input_is_400_with_the_field(owner):
    response = owner.client.post("/api/devices/", {"name": "x", "status": "exploded"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "status"


def test_alerts_acknowledge_and_resolve(owner):
    device = owner.client.post("/api/devices/", {"name": "d"}, format="json").json()
    alert = owner.client.post("/api/alerts/", {"device_id": device["id"], "severity": "warning",
                                               "title": "High CPU Usage"}, format="json")
    assert alert.status_code == 201, alert.content
    alert_id = alert.json()["id"]
    assert alert.json()["source"] == "api"
    acked = owner.client.post(f"/api/alerts/{alert_id}/acknowledge")
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert Alert.objects.get(pk=alert_id).acknowledged_by == owner.membership.user
    resolved = owner.client.post(f"/api/alerts/{alert_id}/resolve")
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    assert owner.client.post(f"/api/alerts/{alert_id}/acknowledge").status_code == 400
    assert [a["id"] for a in results(owner.client.get("/api/alerts/?status=resolved"))] == [alert_id]
    assert "alert.resolved" in set(Event.objects.values_list("type", flat=True))


def test_authentication_and_roles(client, make_actor):
    assert client.get("/api/devices/").status_code in (401, 403)
    member = make_actor("acme", "member")
    assert member.client.get("/api/devices/").status_code == 200
    assert member.client.post("/api/devices/", {"name": "x"}, format="json").status_code == 403
    developer = make_actor("acme", "developer")
    assert developer.client.post("/api/devices/", {"name": "x"}, format="json").status_code == 201


def test_another_tenants_devices_and_alerts_answer_404(owner, other_owner):
    device = owner.client.post("/api/devices/", {"name": "acme-only"}, format="json").json()
    alert = owner.client.post("/api/alerts/", {"device_id": device["id"], "title": "t"}, format="json").json()
    for method, path, body in [
        ("get", f"/api/devices/{device['id']}/", None),
        ("patch", f"/api/devices/{device['id']}/", {"name": "pwned"}),
        ("put", f"/api/devices/{device['id']}/", {"name": "pwned"}),
        ("delete", f"/api/devices/{device['id']}/", None),
        ("get", f"/api/alerts/{alert['id']}/", None),
        ("patch", f"/api/alerts/{alert['id']}/", {"title": "pwned"}),
        ("delete", f"/api/alerts/{alert['id']}/", None),
        ("post", f"/api/alerts/{alert['id']}/acknowledge", None),
        ("post", f"/api/alerts/{alert['id']}/resolve", None),
    ]:
        call = getattr(other_owner.client, method)
        response = call(path, body, format="json") if body else call(path)
        assert response.status_code == 404, (method, path, response.status_code)
    assert results(other_owner.client.get("/api/devices/")) == []
    assert results(other_owner.client.get("/api/alerts/")) == []
    # Nor can globex attach an alert to acme's device.
    response = other_owner.client.post("/api/alerts/", {"device_id": device["id"], "title": "t"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "device_id"
    assert Device.objects.get(pk=device["id"]).name == "acme-only"
    assert Alert.objects.get(pk=alert["id"]).status == "active"
