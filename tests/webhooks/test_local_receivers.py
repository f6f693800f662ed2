"""Local webhooks: with DEBUG and PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK, a delivery reaches a receiver
on this machine, on any port, and its signature verifies with the ``standardwebhooks`` library;
without either, loopback is refused with an error saying how to allow it; ctx.http never is."""
from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from plugins_core.host import http as host_http
from plugins_core.host.errors import Refused
from plugins_core.webhooks.models import WebhookDelivery
from tests.webhooks.conftest import BUILD, SIGNING_KEY

pytestmark = pytest.mark.django_db

DEFAULT_PORTS = [80, 443, 8080, 8443]


@pytest.fixture
def local_receiver(owner, install_guide, receiver, settings):
    """The guide's webhook plugin sending to a real receiver thread on 127.0.0.1, on a port of
    its own, under the platform's default outbound policy (no test-only exceptions)."""
    install_guide(owner)
    settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "ports": DEFAULT_PORTS, "UNSAFE_private_addresses_for_tests": []}
    assert receiver.recorder.port not in DEFAULT_PORTS
    return receiver


def test_with_debug_and_the_setting_a_loopback_receiver_gets_a_delivery_it_can_verify(
        owner, local_receiver, dispatch, work, settings):
    settings.DEBUG, settings.PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK = True, True
    event = dispatch(owner.tenant)
    work()

    delivery = WebhookDelivery.objects.get(event=event)
    assert (delivery.status, delivery.error) == ("succeeded", "")
    [request] = local_receiver.requests
    payload = Webhook(SIGNING_KEY).verify(request["body"], request["headers"])
    assert payload == json.loads(request["body"]) and payload["build_id"] == BUILD["build_id"]
    assert request["headers"]["webhook-id"] == delivery.message_id


def test_the_setting_without_debug_is_refused_saying_so(owner, local_receiver, dispatch, work, settings):
    settings.DEBUG, settings.PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK = False, True
    event = dispatch(owner.tenant)
    work()

    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == "failed"
    assert "PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK is set, but it is honoured only with DEBUG on" in delivery.error
    assert local_receiver.requests == []


def test_by_default_loopback_is_refused_naming_the_setting(owner, local_receiver, dispatch, work, settings):
    settings.DEBUG = True  # DEBUG alone allows nothing
    event = dispatch(owner.tenant)
    work()

    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == "failed"
    assert f"port {local_receiver.recorder.port} is not allowed" in delivery.error
    assert "set PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK=true with DEBUG on" in delivery.error
    assert local_receiver.requests == []


def test_ctx_http_never_reaches_loopback_whatever_the_setting(local_receiver, settings):
    settings.DEBUG, settings.PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK = True, True
    settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "ports": [*DEFAULT_PORTS, local_receiver.recorder.port]}
    with pytest.raises(Refused, match="loopback"):
        host_http.request(["127.0.0.1"], "POST", local_receiver.url, json={})
    assert local_receiver.requests == []


@pytest.mark.parametrize("url", ["http://10.0.0.7:9000/hook", "http://192.168.1.2:80/hook", "http://[fd00::1]:9000/"])
def test_loopback_on_any_port_lets_no_other_private_address_through(url):
    policy = host_http.HttpSettings(allow=(), deny=(), timeout_s=1, max_response_bytes=1, max_request_bytes=1,
                                    max_redirects=0, ports=frozenset({80, 443}), ca_bundle=None,
                                    private_exceptions=frozenset(), loopback_any_port=True)
    host = url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
    with pytest.raises(Refused):
        host_http.vet(url, [host], policy)
