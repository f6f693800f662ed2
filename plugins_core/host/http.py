"""Outbound HTTP made by the host for a plugin (``ctx.http``): the SSRF boundary.

For every hop (the first request and each redirect) the host:

1. parses the URL: http or https only, an allowed port, no user:password part;
2. checks the host name against the installation's ``approved_domains`` (exact, or
   ``*.example.com`` for its subdomains) and the platform's ``allow`` / ``deny`` lists;
3. resolves the name itself and refuses if *any* address is not a public unicast address
   (loopback, private, link-local, multicast, reserved, unspecified, shared, and the IPv4
   inside IPv4-mapped, 6to4, Teredo and NAT64 IPv6 addresses);
4. connects to the address it vetted — the connection never resolves the name again, so
   DNS rebinding cannot swap the target — while the Host header, SNI and certificate
   check still use the name;
5. never follows redirects automatically: up to ``max_redirects`` are followed by hand,
   each one checked from step 1;
6. streams the response and stops at ``max_response_bytes`` and the overall deadline.

A refused target is never contacted. Every refusal says why.

One exception, never for ``ctx.http``: a caller may pass a policy with ``loopback_any_port``
(webhook deliveries do, only with DEBUG on and PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK set), which
lets a name whose every address is loopback be reached on any port — a receiver on the
developer's own machine. Private and other non-public addresses are still refused.
"""
from __future__ import annotations

import base64
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util import connection as urllib3_connection

from plugins_core.host.errors import BadArguments, QuotaExceeded, Refused, UpstreamError

__all__ = ["HttpSettings", "check_address", "domain_matches", "http_settings", "is_loopback", "request"]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Headers a plugin may not set: they would change where or how the host connects.
FORBIDDEN_HEADERS = frozenset({
    "host", "connection", "proxy-authorization", "proxy-connection", "transfer-encoding",
    "te", "upgrade", "keep-alive", "content-length", "trailer",
})
#: Headers dropped when a redirect leaves the host they were sent to.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
MAX_HEADERS = 50
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

@dataclass(frozen=True)
class HttpSettings:
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    timeout_s: float
    max_response_bytes: int
    max_request_bytes: int
    max_redirects: int
    ports: frozenset[int]
    ca_bundle: str | None
    private_exceptions: frozenset[str]
    #: Loopback receivers on any port (local development; see the module docstring).
    loopback_any_port: bool = False


def http_settings() -> HttpSettings:
    raw = settings.PLUGYARD_HTTP
    return HttpSettings(
        allow=tuple(str(d).lower() for d in raw["allow"]),
        deny=tuple(str(d).lower() for d in raw["deny"]),
        timeout_s=float(raw["timeout_s"]),
        max_response_bytes=int(raw["max_response_bytes"]),
        max_request_bytes=int(raw["max_request_bytes"]),
        max_redirects=int(raw["max_redirects"]),
        ports=frozenset(int(p) for p in raw["ports"]),
        ca_bundle=raw["ca_bundle"],
        private_exceptions=frozenset(str(a) for a in raw["UNSAFE_private_addresses_for_tests"]),
    )


# --- policy: names -------------------------------------------------------------------------


def _normalise_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii") if host and not _is_ip_literal(host) else host
    except UnicodeError:
        raise Refused(f"{host!r} is not a valid host name") from None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def domain_matches(host: str, pattern: str) -> bool:
    """``api.example.com`` matches ``api.example.com``; ``*.example.com`` matches its subdomains."""
    pattern = pattern.strip().rstrip(".").lower()
    if not pattern:
        return False
    if pattern.startswith("*."):
        base = pattern[2:]
        return bool(base) and host.endswith("." + base)
    return host == pattern


def _check_name(host: str, approved: list[str], policy: HttpSettings) -> None:
    if not any(domain_matches(host, p) for p in approved if isinstance(p, str)):
        listed = ", ".join(approved) or "none"
        raise Refused(f"{host} is not one of this installation's approved domains ({listed})")
    if any(domain_matches(host, p) for p in policy.deny):
        raise Refused(f"{host} is on the platform's deny list")
    if policy.allow and not any(domain_matches(host, p) for p in policy.allow):
        raise Refused(f"{host} is not on the platform's allow list")


# --- policy: addresses -----------------------------------------------------------------------


def _why_not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def check_address(address: str) -> str | None:
    """Why ``address`` may not be contacted, or None when it is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ip.sixtofour) or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = _why_not_public(embedded)
            if reason:
                return f"{reason} (inside {ip})"
    return _why_not_public(ip)


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the one place the host does DNS for plugins)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UpstreamError(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    address: str


def vet(url: Any, approved: list[str], policy: HttpSettings) -> Target:
    """Check one URL against every rule and pick the vetted address to connect to."""
    if not isinstance(url, str) or not url:
        raise BadArguments("the URL must be a non-empty string")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"{url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"the scheme {scheme or '(none)'!r} is not allowed; use http or https")
    if parts.username is not None or parts.password is not None:
        raise Refused("URLs with a user name or password are not allowed; send credentials in a header")
    if not parts.hostname:
        raise Refused(f"{url!r} has no host")
    host = _normalise_host(parts.hostname)
    port = port or (443 if scheme == "https" else 80)
    if port not in policy.ports and not policy.loopback_any_port:
        raise _port_refused(port, policy)
    _check_name(host, approved, policy)
    addresses = [host] if _is_ip_literal(host) else _resolve(host, port)
    if not addresses:
        raise UpstreamError(f"{host} has no addresses")
    if policy.loopback_any_port and all(is_loopback(address) for address in addresses):
        return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
    if port not in policy.ports:
        raise _port_refused(port, policy)
    for address in addresses:
        if f"{address}:{port}" in policy.private_exceptions:
            continue
        reason = check_address(address)
        if reason:
            what = f"{host} is" if address == host else f"{host} resolves to {address},"
            raise Refused(f"{what} {reason}; plugins may only reach public addresses")
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])


def is_loopback(address: str) -> bool:
    """Whether ``address`` is a loopback IP (127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _port_refused(port: int, policy: HttpSettings) -> Refused:
    allowed = ", ".join(str(p) for p in sorted(policy.ports))
    return Refused(f"port {port} is not allowed; allowed ports: {allowed}")


# --- transport: connect to the vetted address --------------------------------------------------


class _PinnedMixin:
    """A urllib3 connection that connects to a fixed IP instead of resolving its host."""

    def __init__(self, *args: Any, pinned_address: str, **kwargs: Any) -> None:
        self._pinned_address = pinned_address
        super().__init__(*args, **kwargs)

    def _new_conn(self):  # type: ignore[no-untyped-def]
        try:
            return urllib3_connection.create_connection(
                (self._pinned_address, self.port),  # type: ignore[attr-defined]
                self.timeout,  # type: ignore[attr-defined]
                source_address=self.source_address,  # type: ignore[attr-defined]
                socket_options=self.socket_options,  # type: ignore[attr-defined]
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc  # type: ignore[attr-defined]
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class _PinnedPoolManager(PoolManager):
    def __init__(self, target: Target, **kwargs: Any) -> None:
        self._target = target
        super().__init__(**kwargs)

    def _new_pool(self, scheme, host, port, request_context=None):  # type: ignore[no-untyped-def]
        if (scheme, _normalise_host(host), port) != (self._target.scheme, self._target.host, self._target.port):
            raise Refused(f"refusing to connect to {host}:{port}, which was not vetted")
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        pool.conn_kw["pinned_address"] = self._target.address
        return pool


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, target: Target) -> None:
        self._target = target
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):  # type: ignore[no-untyped-def]
        self.poolmanager = _PinnedPoolManager(self._target, num_pools=1, maxsize=1, block=block, **pool_kwargs)

    def proxy_manager_for(self, proxy, **proxy_kwargs):  # type: ignore[no-untyped-def]
        raise Refused("outbound requests do not go through proxies")


def _session(target: Target) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies, .netrc or CA paths from the environment
    session.proxies = {}
    session.mount("http://", _PinnedAdapter(target))
    session.mount("https://", _PinnedAdapter(target))
    return session


# --- the request -----------------------------------------------------------------------------


def _headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_HEADERS:
        raise BadArguments(f"headers must be an object of at most {MAX_HEADERS} name: value pairs")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not isinstance(value, str | int | float):
            raise BadArguments("header names must be strings and values strings or numbers")
        value = str(value)
        if any(ch in name + value for ch in "\r\n\0"):
            raise BadArguments(f"header {name!r} contains a line break")
        if name.strip().lower() in FORBIDDEN_HEADERS:
            raise Refused(f"plugins may not set the {name!r} header")
        headers[name] = value
    return headers


def _body(json_body: Any, data: Any, limit: int) -> tuple[bytes | None, str | None]:
    if json_body is not None and data is not None:
        raise BadArguments("give either 'json' or 'data', not both")
    if json_body is not None:
        import json

        try:
            raw = json.dumps(json_body, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise BadArguments(f"the json body is not serialisable: {exc}") from None
        content_type: str | None = "application/json"
    elif data is None:
        return None, None
    elif isinstance(data, str):
        raw, content_type = data.encode(), None
    elif isinstance(data, dict):
        from urllib.parse import urlencode

        raw, content_type = urlencode(data, doseq=True).encode(), "application/x-www-form-urlencoded"
    else:
        raise BadArguments("'data' must be text or an object of form fields")
    if len(raw) > limit:
        raise QuotaExceeded(f"the request body is {len(raw)} bytes; the limit is {limit} bytes")
    return raw, content_type


def _read_body(response: requests.Response, limit: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise QuotaExceeded(f"the response is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_content(chunk_size=16384):
        received += len(chunk)
        if received > limit:
            raise QuotaExceeded(f"the response is larger than the limit of {limit} bytes; stopped reading")
        if time.monotonic() > deadline:
            raise UpstreamError("the response took longer than the time limit; stopped reading")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, response: requests.Response) -> tuple[str, str]:
    """(text, "text") when the body decodes in its declared charset (UTF-8 if none), else base64."""
    encoding = response.encoding if "charset" in response.headers.get("Content-Type", "").lower() else "utf-8"
    try:
        return body.decode(encoding or "utf-8"), "text"
    except (UnicodeDecodeError, LookupError):
        return base64.b64encode(body).decode("ascii"), "base64"


def request(
    approved_domains: list[str],
    method: Any,
    url: Any,
    *,
    headers: Any = None,
    params: Any = None,
    json: Any = None,
    data: Any = None,
    timeout: Any = None,
    policy: HttpSettings | None = None,
) -> dict[str, Any]:
    """Make the request for a plugin; returns ``{status, status_code, headers, url, body, body_encoding, text}``.

    ``policy`` is the platform's (``http_settings()``) unless a caller passes one of its own."""
    policy = policy or http_settings()
    verb = method.upper() if isinstance(method, str) else ""
    if verb not in METHODS:
        raise BadArguments(f"the HTTP method {method!r} is not allowed; use one of {', '.join(sorted(METHODS))}")
    if params is not None and not isinstance(params, dict):
        raise BadArguments("params must be an object")
    limit_s = policy.timeout_s
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise BadArguments("timeout must be a positive number of seconds")
        limit_s = min(float(timeout), policy.timeout_s)
    deadline = time.monotonic() + limit_s
    send_headers = _headers(headers)
    body, content_type = _body(json, data, policy.max_request_bytes)
    if content_type and not any(h.lower() == "content-type" for h in send_headers):
        send_headers["Content-Type"] = content_type

    prepared_url = _with_params(url, params)
    current_host: str | None = None
    for hop in range(policy.max_redirects + 1):
        target = vet(prepared_url, approved_domains, policy)
        if current_host is not None and target.host != current_host:
            send_headers = {k: v for k, v in send_headers.items() if k.lower() not in CREDENTIAL_HEADERS}
        current_host = target.host
        session = _session(target)
        try:
            response = _send(session, target, verb, send_headers, body, policy, deadline)
            location = response.headers.get("Location")
            if response.status_code in REDIRECTS and location:
                if hop == policy.max_redirects:
                    raise Refused(f"more than {policy.max_redirects} redirects; stopped at {target.url}")
                prepared_url = urljoin(target.url, location)
                if response.status_code == 303 or (response.status_code in (301, 302) and verb == "POST"):
                    verb, body = ("HEAD" if verb == "HEAD" else "GET"), None
                    send_headers = {k: v for k, v in send_headers.items() if k.lower() != "content-type"}
                continue
            raw = b"" if verb == "HEAD" else _read_body(response, policy.max_response_bytes, deadline)
            text_or_b64, encoding = _decode(raw, response)
            return {
                "status": response.status_code,
                "status_code": response.status_code,
                "headers": dict(response.headers),
                "url": target.url,
                "body": text_or_b64,
                "body_encoding": encoding,
                "text": text_or_b64 if encoding == "text" else raw.decode("utf-8", "replace"),
            }
        except requests.exceptions.RequestException as exc:  # raised while reading the body
            raise UpstreamError(f"reading the response from {target.host} failed: {_short(exc)}") from None
        finally:
            session.close()
    raise Refused(f"more than {policy.max_redirects} redirects")  # pragma: no cover - loop returns or raises


def _with_params(url: Any, params: dict[str, Any] | None) -> Any:
    if not isinstance(url, str) or not params:
        return url
    try:
        return requests.Request("GET", url, params=params).prepare().url
    except requests.exceptions.RequestException as exc:
        raise Refused(f"{url!r} is not a valid URL: {_short(exc)}") from None


def _send(session: requests.Session, target: Target, verb: str, headers: dict[str, str], body: bytes | None,
          policy: HttpSettings, deadline: float) -> requests.Response:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise UpstreamError("the request ran out of time")
    try:
        return session.request(
            verb, target.url, headers=headers, data=body, allow_redirects=False, stream=True,
            timeout=(min(remaining, policy.timeout_s), min(remaining, policy.timeout_s)),
            verify=policy.ca_bundle or True,
        )
    except requests.exceptions.Timeout:
        raise UpstreamError(f"{target.host} did not answer within {policy.timeout_s:g} s") from None
    except requests.exceptions.SSLError as exc:
        raise UpstreamError(f"TLS with {target.host} failed: {_short(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise UpstreamError(f"the request to {target.host} failed: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."
