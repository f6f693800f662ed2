"""Plugin HTTP routes under ``/ext/<slug>/<path>``, authenticated like the API.

The installation must be enabled and its version must declare routes. The path is matched
here against the routes the code registered, with the SDK's route grammar (404, 405 with
``Allow``, and OPTIONS answered without waking plugin code), then the plugin's worker runs
the handler. A dict answers 200 JSON, ``(body, status)`` that status; a plugin crash
answers 502 and a deadline 504, as JSON. HEAD and OPTIONS behave as in Django's ``View``:
HEAD runs the GET route and answers without the body; OPTIONS answers 200 with ``Allow``
unless the plugin declares OPTIONS itself.
"""
from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from plugyard_sdk import routing
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from config.errors import error_body
from plugins_core import runner
from plugins_core.models import Installation, InvocationStatus
from plugins_core.route_table import table_for
from plugins_core.sandbox.budgets import Budgets
from plugins_core.sandboxes import get_sandbox
from tenants.permissions import IsTenantMember

__all__ = ["PluginRouteView"]

HIDDEN_HEADERS = {"authorization", "cookie", "x-tenant-slug"}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


_slots: Budgets | None = None
_slots_lock = threading.Lock()


@contextmanager
def _tenant_slot(tenant_id: int) -> Iterator[bool]:
    """Hold one of this web process's slots for the tenant's plugin requests, or yield False.

    The sandbox budgets a tenant's calls too, but a request waiting there still holds a web
    thread, and one answered at once comes straight back. So a tenant has at most the
    sandbox's ``tenant_concurrency`` requests running in this process (the same ``Budgets``
    the service admits calls with); another waits here, idle, up to ``route_queue_s`` for
    one to finish, then is answered 429: a flood of them costs neither CPU nor the threads
    other tenants need (the Procfile runs 16 per process).
    """
    global _slots
    policy = get_sandbox().policy
    with _slots_lock:
        if _slots is None:
            _slots = Budgets(policy.tenant_concurrency, per_installation=policy.tenant_concurrency)
    key = str(tenant_id)
    with _slots.admit(key, key, time.monotonic() + policy.route_queue_s) as admitted:
        yield admitted


def _rate_limited(installation: Installation) -> int:
    """Seconds to wait if this installation's routes are over their per-minute budget, else 0."""
    limit = settings.PLUGYARD_ROUTES["rate_limit_per_minute"]
    if not limit:
        return 0
    window = int(time.time() // 60)
    key = f"plugyard:route-rate:{installation.pk}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    return 60 - int(time.time() % 60) if count > limit else 0


def _request_for_plugin(request, subpath: str) -> dict:
    body = request.body
    try:
        text, encoding = body.decode("utf-8"), "text"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    headers = {
        name: value for name, value in request.headers.items() if name.lower() not in HIDDEN_HEADERS
    }
    return {
        "method": request.method,
        "path": "/" + subpath,
        "query": {key: request.GET.getlist(key) if len(request.GET.getlist(key)) > 1 else request.GET.get(key) for key in request.GET},
        "headers": headers,
        "body": text,
        "body_encoding": encoding,
        "content_type": request.content_type,
    }


def _response(value) -> HttpResponse:
    if isinstance(value, dict) and set(value) >= {"status", "body"}:
        status, body, headers = int(value["status"]), value["body"], value.get("headers") or {}
    else:
        status, body, headers = 200, value, {}
    if not 100 <= status <= 599:
        return _error(502, "bad_plugin_response", f"the plugin answered an invalid HTTP status {status}")
    if isinstance(body, str):
        response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    else:
        response = JsonResponse(body, status=status, safe=False)
    for name, header_value in headers.items():
        if isinstance(name, str) and name.lower() not in {"set-cookie", "content-length", "transfer-encoding"}:
            response[name] = str(header_value)
    return response


def _options(allow: str) -> HttpResponse:
    """Django's ``View.options``: 200, ``Allow``, no body."""
    response = HttpResponse(status=200)
    response["Allow"] = allow
    response["Content-Length"] = "0"
    return response


def _without_body(response: HttpResponse) -> HttpResponse:
    """HEAD: the answer GET would give (status, headers, length), without the body.

    Not every server drops a HEAD body itself, so the host does, for errors too.
    """
    length = len(response.content)
    response.content = b""
    response["Content-Length"] = str(length)
    return response


#: The schema of every plugin route: each plugin's own API, described here as one generic operation.
_ROUTE_SCHEMA = extend_schema(
    summary="Call a plugin's route",
    description=(
        "Runs the route handler that the tenant's enabled plugin `slug` registered for `subpath` and this "
        "method (`@route(\"/ping\")` answers `/ext/{slug}/ping`; `/ext/{slug}/` is its root route). "
        "The handler gets the method, path, query, headers (without Authorization, Cookie and "
        "X-Tenant-Slug) and the body. A dict it returns answers 200 as JSON and a string as text; "
        "`(body, status)` answers that status, which is the plugin's to choose. The plugin's own routes "
        "and bodies are in its documentation, not here.\n\n"
        "Limits: a request body of at most `PLUGYARD_ROUTE_MAX_BODY_BYTES` (1 MiB by default, 413 over "
        "it); at most `PLUGYARD_ROUTE_RATE_LIMIT` requests a minute per installation (600 by default) "
        "and a few plugin requests of one tenant at a time (429 with Retry-After); the handler must answer "
        "within the hook deadline (`PLUGYARD_SANDBOX_HOOK_TIMEOUT`, 5 s by default: 504 after it). OPTIONS "
        "answers the route's Allow header; HEAD runs the GET route without the body."
    ),
    parameters=[
        OpenApiParameter("slug", str, OpenApiParameter.PATH, pattern="^[-a-zA-Z0-9_]+$",
                         description="The plugin's slug."),
        OpenApiParameter("subpath", str, OpenApiParameter.PATH, pattern="^[^\\n]+$",
                         description="The route's path inside the plugin, as its code declares it (`ping`, "
                                     "`orders/42`)."),
    ],
    request={"application/json": OpenApiTypes.ANY, "text/plain": OpenApiTypes.STR,
             "application/octet-stream": OpenApiTypes.BINARY},
    responses={
        (200, "application/json"): OpenApiResponse(OpenApiTypes.ANY, description="The handler's dict, as JSON."),
        (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The handler's string."),
        404: OpenApiResponse(description="No plugin `slug` installed for the tenant (`not_found`), installed but "
                                         "not enabled (`not_enabled`), declaring no routes (`no_routes`), or no "
                                         "route for `subpath` (`not_found`)."),
        405: OpenApiResponse(description="The route exists for other methods; `Allow` names them."),
        413: OpenApiResponse(description="The request body is over the plugin-route limit."),
        429: OpenApiResponse(description="Over the installation's requests per minute (`rate_limited`) or the "
                                         "tenant's concurrent plugin requests (`tenant_busy`); retry after "
                                         "`Retry-After` seconds."),
        502: OpenApiResponse(description="The plugin failed: it raised, crashed, ran out of memory "
                                         "(`plugin_<status>`) or answered an invalid status (`bad_plugin_response`)."),
        503: OpenApiResponse(description="Plugin code cannot run right now (`sandbox_unavailable`); retry after "
                                         "`Retry-After` seconds."),
        504: OpenApiResponse(description="The plugin did not answer within its deadline (`plugin_timeout`)."),
        "default": OpenApiResponse(OpenApiTypes.ANY, description="Whatever status the handler chose with "
                                                                 "`(body, status)`."),
    },
)


class PluginRouteView(APIView):
    permission_classes: list[type[BasePermission]] = [IsTenantMember]

    @property
    def default_response_headers(self) -> dict[str, str]:
        return {}  # DRF would add its own Allow header over the plugin route's

    def _handle(self, request, slug: str, subpath: str = "") -> HttpResponse:
        installation = (
            Installation.objects.for_tenant(request.tenant)
            .select_related("tenant", "plugin", "version")
            .filter(plugin__slug=slug)
            .first()
        )
        if installation is None:
            return _error(404, "not_found", f"No plugin {slug!r} is installed for this tenant.")
        if not installation.enabled:
            return _error(404, "not_enabled", f"The plugin {slug!r} is installed but not enabled; an admin enables it with POST /api/plugins/{installation.pk}/enable.")
        manifest = installation.version.manifest
        if not manifest.get("routes_enabled", bool(manifest.get("routes"))):
            return _error(404, "no_routes", f"The plugin {slug!r} declares no routes.")
        match = table_for(installation.version).match("/" + subpath, request.method)
        if not isinstance(match, routing.Match):
            if not match:
                return _error(404, "not_found", f"The plugin {slug!r} has no route /{subpath}.")
            allow = ", ".join(match)
            if request.method == "OPTIONS":
                return _options(allow)
            return _error(405, "method_not_allowed", f"{request.method} is not allowed here; use {allow}.", {"Allow": allow})
        limit = settings.PLUGYARD_ROUTES["max_body_bytes"]
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit or len(request.body) > limit:
            return _error(413, "body_too_large", f"The request body is over the {limit} byte limit for plugin routes.")
        wait = _rate_limited(installation)
        if wait:
            return _error(429, "rate_limited", "Too many requests to this plugin's routes; slow down.", {"Retry-After": str(wait)})
        with _tenant_slot(installation.tenant_id) as admitted:
            if not admitted:
                return _error(429, "tenant_busy", "This tenant already has as many plugin requests running as it "
                              "may; retry shortly.", {"Retry-After": "1"})
            record = runner.invoke(
                installation, kind="route", name="/" + subpath, handler=match.route.handler,
                user=request.user, request=_request_for_plugin(request, subpath),
            )
        if record.status == InvocationStatus.OK:
            return _response(record.output)
        if record.status == InvocationStatus.TIMEOUT:
            return _error(504, "plugin_timeout", f"The plugin {slug!r} did not answer within its deadline.")
        if record.status == InvocationStatus.BUSY:
            return _error(429, "tenant_busy", "This tenant's plugins are busy with other calls; retry shortly.",
                          {"Retry-After": "1"})
        if record.status == InvocationStatus.UNAVAILABLE:
            return _error(503, "sandbox_unavailable", "Plugin code cannot run right now; retry shortly.",
                          {"Retry-After": "5"})
        first_line = (record.error or record.status).splitlines()[0]
        return _error(502, f"plugin_{record.status}", f"The plugin {slug!r} failed: {first_line}")

    @_ROUTE_SCHEMA
    def get(self, request, slug, subpath=""):
        response = self._handle(request, slug, subpath)
        return _without_body(response) if request.method == "HEAD" else response

    # DRF's own OPTIONS answers with its metadata; a plugin's routes answer for themselves.
    post = put = patch = delete = head = options = get
