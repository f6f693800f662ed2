"""Outbound HTTP: the allowed path against a real local server, and every SSRF refusal.

Loopback is only reachable here because each test lists its server's exact ``ip:port`` in
``PLUGYARD_HTTP["UNSAFE_private_addresses_for_tests"]``; everything else private stays refused.
"""
from __future__ import annotations

import base64
import json
import socket

import pytest

from plugins_core.host import http as host_http
from plugins_core.host.errors import QuotaExceeded, Refused, UpstreamError
from tests.host import servers

pytestmark = pytest.mark.django_db


@pytest.fixture
def http_policy(settings):
    def configure(*servers_, exempt=True, **extra):
        """Allow the servers' ports; unless ``exempt=False``, except their exact loopback address."""
        settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP,
            "ports": [80, 443, 8080, 8443, *(s.port for s in servers_)],
            "UNSAFE_private_addresses_for_tests": [f"127.0.0.1:{s.port}" for s in servers_] if exempt else [],
            **extra,
        }
    configure()
    return configure


@pytest.fixture
def fake_dns(monkeypatch):
    """Resolve chosen names to chosen addresses; count every lookup of them."""
    real = socket.getaddrinfo
    table: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            lookups.append(host)
            return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (ip, port, 0, 0) if ":" in ip else (ip, port)) for ip in table[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    table["lookups"] = lookups  # type: ignore[assignment]
    return table


@pytest.fixture
def no_connections(monkeypatch):
    """Fail the test if anything opens a TCP connection."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args}")

    import urllib3.util.connection

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def fetch(url, approved, **kwargs):
    return host_http.request(approved, kwargs.pop("method", "GET"), url, **kwargs)


# --- the allowed path --------------------------------------------------------------------------


def test_a_get_to_an_approved_server_returns_a_json_able_result(http_policy):
    with servers.serve({"/data": servers.json_reply({"hello": "world"})}) as server:
        http_policy(server)
        result = fetch(f"http://127.0.0.1:{server.port}/data", ["127.0.0.1"], params={"q": "1"})
    assert result["status"] == result["status_code"] == 200
    assert json.loads(result["body"]) == {"hello": "world"} and result["body_encoding"] == "text"
    assert result["text"] == result["body"]
    assert result["url"] == f"http://127.0.0.1:{server.port}/data?q=1"
    assert result["headers"]["Content-Type"] == "application/json"
    json.dumps(result)
    assert server.requests[0]["query"] == {"q": ["1"]}


def test_through_the_bridge_with_the_sdk_shape(acme, make_installation, bridge_for, http_policy):
    with servers.serve({"/echo": servers.echo}) as server:
        http_policy(server)
        installation = make_installation(acme, permissions=["outbound_http"], approved_domains=["127.0.0.1"])
        raw = bridge_for(installation).call("http.request", {
            "method": "POST", "url": f"http://127.0.0.1:{server.port}/echo", "headers": {"X-Test": "1"},
            "params": {}, "json": {"a": 1}, "data": None, "timeout": 5,
        })
    echoed = json.loads(raw["text"])
    assert (raw["status_code"], echoed["method"], json.loads(echoed["body"])) == (200, "POST", {"a": 1})
    assert echoed["headers"]["X-Test"] == "1"


def test_binary_bodies_come_back_as_base64(http_policy):
    with servers.serve({"/bin": servers.binary}) as server:
        http_policy(server)
        result = fetch(f"http://127.0.0.1:{server.port}/bin", ["127.0.0.1"])
    assert result["body_encoding"] == "base64"
    assert base64.b64decode(result["body"]) == bytes(range(256))


def test_the_vetted_address_is_the_one_connected_to_with_the_name_kept(http_policy, fake_dns):
    with servers.serve({"/echo": servers.echo}) as server:
        http_policy(server)
        fake_dns["svc.example.test"] = ["127.0.0.1"]
        result = fetch(f"http://svc.example.test:{server.port}/echo", ["*.example.test"])
    assert json.loads(result["text"])["headers"]["Host"] == f"svc.example.test:{server.port}"
    # Resolved once, by the host's check; the connection went to the vetted IP without a second lookup.
    assert fake_dns["lookups"] == ["svc.example.test"]


def test_dns_rebinding_cannot_swap_the_target(http_policy, fake_dns, monkeypatch):
    """Even if the name resolves elsewhere by the time of connecting, the vetted IP is used."""
    with servers.serve({"/echo": servers.echo}) as server:
        http_policy(server)
        fake_dns["rebind.example.test"] = ["127.0.0.1"]
        real_vet = host_http.vet

        def vet_then_rebind(*args, **kwargs):
            target = real_vet(*args, **kwargs)
            fake_dns["rebind.example.test"] = ["10.0.0.1"]  # the attacker flips the record now
            return target

        monkeypatch.setattr(host_http, "vet", vet_then_rebind)
        result = fetch(f"http://rebind.example.test:{server.port}/echo", ["rebind.example.test"])
    assert result["status"] == 200 and server.count == 1


# --- refusals: nothing is sent -------------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), [
    ("http://10.0.0.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:10.1.2.3]/", "private"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://100.64.0.1/", "not a globally routable"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fc00::1]/", "private"),
    ("http://[64:ff9b::7f00:1]/", "loopback"),
    ("http://240.0.0.1/", "reserved"),
])
def test_private_literal_addresses_are_refused_without_connecting(http_policy, no_connections, url, reason):
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname
    with pytest.raises(Refused) as refused:
        fetch(url, [host])
    assert reason in str(refused.value)


def test_loopback_is_refused_and_the_server_never_hears_of_it(http_policy):
    with servers.serve({"/": servers.json_reply({})}) as server:
        http_policy(server, exempt=False)
        with pytest.raises(Refused, match="127.0.0.1 is a loopback address"):
            fetch(f"http://127.0.0.1:{server.port}/", ["127.0.0.1"])
        with pytest.raises(Refused, match="localhost resolves to .*, a loopback address"):
            fetch(f"http://localhost:{server.port}/", ["localhost"])
    assert server.count == 0


def test_a_name_resolving_to_a_private_address_is_refused(http_policy, fake_dns, no_connections):
    fake_dns["internal.example.test"] = ["93.184.216.34", "10.0.0.7"]  # one bad address is enough
    with pytest.raises(Refused, match="resolves to 10.0.0.7, a private address"):
        fetch("https://internal.example.test/", ["internal.example.test"])


def test_a_redirect_to_loopback_is_refused_before_it_is_followed(http_policy):
    with servers.serve({"/": servers.json_reply({"secret": True})}) as inner:
        with servers.serve({"/go": servers.redirect(f"http://127.0.0.1:{inner.port}/")}) as outer:
            http_policy(outer, inner, exempt=False)
            from django.conf import settings

            # Only the outer server's exact address is excepted; the redirect target is not.
            settings.PLUGYARD_HTTP["UNSAFE_private_addresses_for_tests"] = [f"127.0.0.1:{outer.port}"]
            with pytest.raises(Refused, match="127.0.0.1 is a loopback address"):
                fetch(f"http://127.0.0.1:{outer.port}/go", ["127.0.0.1"])
    assert outer.count == 1 and inner.count == 0


def test_a_redirect_to_the_metadata_address_is_refused(http_policy):
    with servers.serve({"/meta": servers.redirect("http://169.254.169.254/latest/")}) as server:
        http_policy(server)
        with pytest.raises(Refused, match="169.254.169.254 is a link-local address"):
            fetch(f"http://127.0.0.1:{server.port}/meta", ["127.0.0.1", "169.254.169.254"])
    assert server.count == 1


def test_redirects_to_unapproved_domains_are_refused(http_policy, fake_dns):
    with servers.serve({"/go": servers.redirect("https://evil.test/steal")}) as server:
        http_policy(server)
        with pytest.raises(Refused, match="evil.test is not one of this installation's approved domains"):
            fetch(f"http://127.0.0.1:{server.port}/go", ["127.0.0.1"])
    assert server.count == 1


def test_redirects_are_followed_by_hand_and_capped(http_policy, fake_dns):
    def routes(rec):
        return {
            "/start": servers.redirect(f"http://b.example.test:{rec.port}/echo", 301),
            "/loop": servers.redirect("/loop"),
            "/echo": servers.echo,
        }

    with servers.serve(routes) as server:
        http_policy(server)
        fake_dns["a.example.test"] = ["127.0.0.1"]
        fake_dns["b.example.test"] = ["127.0.0.1"]
        result = fetch(f"http://a.example.test:{server.port}/start", ["*.example.test"],
                       headers={"Authorization": "Bearer plugin-key", "X-Keep": "yes"})
        echoed = json.loads(result["text"])
        assert result["url"] == f"http://b.example.test:{server.port}/echo"
        assert "Authorization" not in echoed["headers"] and echoed["headers"]["X-Keep"] == "yes"
        before = server.count
        with pytest.raises(Refused, match="more than 5 redirects"):
            fetch(f"http://a.example.test:{server.port}/loop", ["*.example.test"])
        assert server.count - before == 6


@pytest.mark.parametrize(("url", "approved", "message"), [
    ("ftp://example.com/file", ["example.com"], "scheme 'ftp' is not allowed"),
    ("file:///etc/passwd", ["example.com"], "scheme 'file' is not allowed"),
    ("gopher://example.com/", ["example.com"], "scheme 'gopher'"),
    ("http://example.com:22/", ["example.com"], "port 22 is not allowed"),
    ("http://user:pw@example.com/", ["example.com"], "user name or password"),
    ("https://example.org/", ["example.com"], "not one of this installation's approved domains"),
    ("https://example.com.evil.test/", ["example.com"], "approved domains"),
    ("https://example.com/", ["*.example.com"], "approved domains"),  # a wildcard is subdomains only
    ("https://api.example.com/", [], "approved domains (none)"),
])
def test_urls_outside_the_policy_are_refused_with_the_reason(http_policy, no_connections, url, approved, message):
    with pytest.raises(Refused) as refused:
        fetch(url, approved)
    assert message in str(refused.value)


def test_platform_deny_and_allow_lists_apply_on_top(settings, no_connections):
    settings.PLUGYARD_HTTP = {**settings.PLUGYARD_HTTP, "deny": ["bad.example.com"], "allow": ["*.example.com"]}
    with pytest.raises(Refused, match="deny list"):
        fetch("https://bad.example.com/", ["*.example.com"])
    with pytest.raises(Refused, match="platform's allow list"):
        fetch("https://api.other.test/", ["api.other.test"])


def test_plugins_cannot_set_the_host_header(http_policy, no_connections):
    with pytest.raises(Refused, match="'Host' header"):
        fetch("https://api.example.com/", ["api.example.com"], headers={"Host": "internal"})


# --- limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "streamed"])
def test_responses_over_the_cap_stop_with_a_clear_error(http_policy, declare_length):
    with servers.serve({"/big": servers.big(3 * 1024 * 1024, declare_length)}) as server:
        http_policy(server)
        with pytest.raises(QuotaExceeded, match="1048576 bytes"):
            fetch(f"http://127.0.0.1:{server.port}/big", ["127.0.0.1"])


def test_a_slow_server_times_out(http_policy):
    with servers.serve({"/slow": servers.slow(3)}) as server:
        http_policy(server, timeout_s=0.5)
        with pytest.raises(UpstreamError, match="did not answer"):
            fetch(f"http://127.0.0.1:{server.port}/slow", ["127.0.0.1"])


def test_the_test_exception_is_off_by_default():
    assert host_http.http_settings().private_exceptions == frozenset()
