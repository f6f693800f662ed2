"""API authentication: ``Authorization: Bearer <token>`` plus ``X-Tenant-Slug: <tenant>``.

A token belongs to one membership, so it names its tenant already; the header must agree,
which stops a token leaking into another tenant's calls by a copy-paste of the wrong slug.
On success the request carries ``request.tenant`` and ``request.membership``.
"""
from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

from tenants.models import ApiToken

__all__ = ["TenantTokenAuthentication", "authenticate_headers"]

TENANT_HEADER = "HTTP_X_TENANT_SLUG"


def authenticate_headers(meta: dict[str, Any]) -> ApiToken:
    """The active token the headers present, or an AuthenticationFailed saying what is wrong."""
    header = meta.get("HTTP_AUTHORIZATION", "")
    scheme, _, clear = header.partition(" ")
    if scheme.lower() != "bearer" or not clear.strip():
        raise exceptions.NotAuthenticated("Send 'Authorization: Bearer <token>'.")
    slug = meta.get(TENANT_HEADER, "").strip()
    if not slug:
        raise exceptions.NotAuthenticated("Send 'X-Tenant-Slug: <tenant>' with the token.")
    token = ApiToken.find(clear.strip())
    if token is None:
        raise exceptions.AuthenticationFailed("The token is unknown or revoked.")
    if token.membership.tenant.slug != slug:
        raise exceptions.AuthenticationFailed("The token does not belong to that tenant.")
    token.touch()
    return token


class TenantTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        if "HTTP_AUTHORIZATION" not in request.META and TENANT_HEADER not in request.META:
            return None
        token = authenticate_headers(request.META)
        membership = token.membership
        request._request.tenant = membership.tenant
        request._request.membership = membership
        return membership.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
