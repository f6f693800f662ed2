"""API authentication: ``Authorization: Bearer <token>`` plus ``X-Tenant-Slug: <tenant>``.

A token belongs to one membership, so it names its tenant already; the header must agree,
which stops a token leaking into another tenant's calls by a copy-paste of the wrong slug.
On success the request carries ``request.tenant`` and ``request.membership``.
``GET /api/me`` alone takes the token without the header (`TokenOnlyAuthentication`), so a
client can learn which tenant its token names before it sends the header anywhere else.
"""
from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

from tenants.models import ApiToken

__all__ = ["TenantTokenAuthentication", "TokenOnlyAuthentication", "authenticate_headers", "authenticate_token"]

TENANT_HEADER = "HTTP_X_TENANT_SLUG"


def _bearer(meta: dict[str, Any]) -> str:
    scheme, _, clear = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not clear.strip():
        raise exceptions.NotAuthenticated("Send 'Authorization: Bearer <token>'.")
    return clear.strip()


def _find(clear: str) -> ApiToken:
    token = ApiToken.find(clear)
    if token is None:
        raise exceptions.AuthenticationFailed("The token is unknown or revoked.")
    return token


def authenticate_headers(meta: dict[str, Any]) -> ApiToken:
    """The active token the headers present, or an AuthenticationFailed saying what is wrong."""
    clear = _bearer(meta)
    slug = meta.get(TENANT_HEADER, "").strip()
    if not slug:
        raise exceptions.NotAuthenticated("Send 'X-Tenant-Slug: <tenant>' with the token (GET /api/me names its tenant).")
    token = _find(clear)
    if token.membership.tenant.slug != slug:
        raise exceptions.AuthenticationFailed("The token does not belong to that tenant.")
    token.touch()
    return token


def authenticate_token(meta: dict[str, Any]) -> ApiToken:
    """The active bearer token, the tenant header optional (checked when sent)."""
    if meta.get(TENANT_HEADER, "").strip():
        return authenticate_headers(meta)
    token = _find(_bearer(meta))
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


class TokenOnlyAuthentication(TenantTokenAuthentication):
    """The token names its tenant; ``X-Tenant-Slug`` may be left out (``GET /api/me``)."""

    def authenticate(self, request):
        if "HTTP_AUTHORIZATION" not in request.META and TENANT_HEADER not in request.META:
            return None
        token = authenticate_token(request.META)
        membership = token.membership
        request._request.tenant = membership.tenant
        request._request.membership = membership
        return membership.user, token
