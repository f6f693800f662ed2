"""The OpenAPI schema a client can drive: what every operation shares, declared once.

Views declare only what is theirs (a summary, a description a client reads, the bodies);
this module adds the rest to every operation so none can forget it: the security schemes
(the bearer token and ``X-Tenant-Slug``, as ``tenants.auth`` checks them), who may call it
(read from the view's permissions, so the text cannot drift from the check), and the error
envelope of ``config.errors`` on every error answer. Docstrings stay for the code's
readers: an operation without a written description has none, and a test says so.

It names the app classes it documents by dotted path only, so config imports no app.
"""
from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

__all__ = ["ClientSchema", "ErrorSerializer", "drop_slash_aliases", "link_created_ids"]

BEARER = "bearerAuth"
TENANT = "tenantSlug"

_BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A tenant API token: `Authorization: Bearer <token>`. A token belongs to one member of "
                   "one tenant and acts with that member's role (`manage.py create_tenant` prints the "
                   "owner's first one).",
}
_TENANT_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "X-Tenant-Slug",
    "description": "The slug of the tenant the token belongs to. Required on every call but `GET /api/me`, "
                   "where it may be left out (that call answers which tenant the token names); whenever it "
                   "is sent it must name the token's own tenant, or the call is answered 401.",
}


class TenantTokenScheme(OpenApiAuthenticationExtension):
    """``TenantTokenAuthentication``: the token and the tenant header, both required."""

    target_class = "tenants.auth.TenantTokenAuthentication"
    name = [BEARER, TENANT]

    def get_security_definition(self, auto_schema):
        return [_BEARER_SCHEME, _TENANT_SCHEME]


class TokenOnlyScheme(TenantTokenScheme):
    """``TokenOnlyAuthentication`` (``GET /api/me``): the token, with or without the header."""

    target_class = "tenants.auth.TokenOnlyAuthentication"

    def get_security_definition(self, auto_schema):
        # The same two schemes, defined by TenantTokenScheme (every other view uses it):
        # defining them again for another class would read as a name collision.
        return []

    def get_security_requirement(self, auto_schema):
        return [{BEARER: [], TENANT: []}, {BEARER: []}]


class ErrorDetailSerializer(serializers.Serializer):
    field = serializers.CharField(allow_blank=True, help_text=(
        "The offending input as a path (`name`, `config.retries`, `hooks[0].event`); empty when the "
        "problem is the request as a whole."))
    code = serializers.CharField(help_text="A machine code for this field's problem (`required`, `invalid`, …).")
    message = serializers.CharField(help_text="A sentence for a person.")


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text=(
        "A machine code: `invalid`, `not_authenticated`, `authentication_failed`, `permission_denied`, "
        "`not_found`, `method_not_allowed`, `throttled`, or the operation's own (`archive_too_large`, …)."))
    message = serializers.CharField(help_text="A sentence for a person, saying what to change.")
    details = ErrorDetailSerializer(many=True, help_text="One entry per field problem; empty when none applies.")


class ErrorSerializer(serializers.Serializer):
    """The one error shape (``config.errors.error_body``), as a schema component."""

    error = ErrorBodySerializer()


#: What each error status means on any operation that can answer it.
_ERRORS = {
    400: "The request is invalid: `error.details` names each offending field with a code and a message.",
    401: "No bearer token, a token that is unknown or revoked, or an X-Tenant-Slug that is missing (where "
         "required) or names another tenant than the token's.",
    403: "The token's role in the tenant is below the one this operation needs.",
    404: "No such object in this tenant (another tenant's is answered the same).",
}


class ClientSchema(AutoSchema):
    """drf-spectacular's schema with what every Plugyard operation shares (see the module)."""

    def get_description(self) -> str:
        # Not the docstrings: they are written for the code's readers. A view gives a
        # client's description with extend_schema(description=...), which overrides this.
        return ""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if operation.get("security"):
            who = self._who_may_call()
            operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{who}".strip()
        self._add_errors(operation)
        for parameter in operation.get("parameters", []):
            # Django's <int:> converter takes digits only: "-1" is no URL of the API (an HTML 404).
            if parameter["in"] == "path" and parameter.get("schema", {}).get("type") == "integer":
                parameter["schema"].setdefault("minimum", 0)
        return operation

    def _required_role(self) -> str | None:
        """The highest role the view's permissions ask for, None when any member may call."""
        roles = [str(getattr(permission, "required_role", "")) for permission in self.view.get_permissions()]
        roles = [role for role in roles if role and role != "member"]
        return max(roles, key=["developer", "admin", "owner"].index) if roles else None

    def _who_may_call(self) -> str:
        role = self._required_role()
        if role is None:
            return "**Who may call:** any member of the tenant."
        return f"**Who may call:** a member of the tenant with the `{role}` role or higher."

    def _add_errors(self, operation: dict[str, Any]) -> None:
        """Every error answer the operation can give, each with the error envelope."""
        parameters = operation.get("parameters", [])
        responses = operation["responses"]
        statuses: list[int] = []
        # An operation answering with another party's statuses (a plugin route's `default`) lists
        # only the errors the server itself gives; it never parses the request.
        if (operation.get("requestBody") or parameters) and "default" not in responses:
            statuses.append(400)
        if operation.get("security"):
            statuses.append(401)
            if self._required_role() is not None:
                statuses.append(403)
        if any(parameter["in"] == "path" for parameter in parameters):
            statuses.append(404)
        for status in statuses:
            responses.setdefault(str(status), {"description": _ERRORS[status]})
        envelope = {"application/json": {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}}
        for status, response in responses.items():
            if status.isdigit() and int(status) >= 400 and "content" not in response:
                response["content"] = envelope


def drop_slash_aliases(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """Preprocessing hook: leave out ``/x/`` when it is an alias of ``/x`` (one operation, one entry)."""
    def view(callback: Any) -> Any:
        return getattr(callback, "cls", callback)  # each as_view() is a new function

    seen = {(path, method, view(callback)) for path, _, method, callback in endpoints}
    return [
        (path, regex, method, callback) for path, regex, method, callback in endpoints
        if not (path.endswith("/") and (path.rstrip("/"), method, view(callback)) in seen)
    ]


#: A create operation -> the path whose ``{id}`` its 201 answer's ``id`` fills.
LINKED_IDS = {
    "/api/plugins/upload": "/api/plugins/{id}",
    "/api/devices/": "/api/devices/{id}/",
    "/api/alerts/": "/api/alerts/{id}/",
    "/api/members/": "/api/members/{id}",
}


def link_created_ids(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: OpenAPI links from a create's answer to the operations on what it made.

    ``POST /api/plugins/upload`` answers the installation; its ``id`` is what every
    ``/api/plugins/{id}/…`` operation takes. Clients (and schemathesis' stateful runs) follow them.
    """
    paths = result.get("paths", {})
    for source, prefix in LINKED_IDS.items():
        created = paths.get(source, {}).get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links = {}
        for path, operations in paths.items():
            if path != prefix and not path.startswith(prefix.rstrip("/") + "/"):
                continue
            for method, target in operations.items():
                if isinstance(target, dict) and "operationId" in target:
                    pointer = path.replace("~", "~0").replace("/", "~1")
                    # By reference: operation ids colliding are renamed after the hooks run.
                    links[target["operationId"]] = {
                        "operationRef": f"#/paths/{pointer}/{method}",
                        "parameters": {"id": "$response.body#/id"},
                        "description": f"{method.upper()} {path} on what this call created.",
                    }
        if links:
            created["links"] = dict(sorted(links.items()))
    return result
