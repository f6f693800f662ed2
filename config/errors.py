"""One error shape for every API error: ``{"error": {"code", "message", "details"}}``.

Views raise DRF exceptions (or :class:`ApiError` with a list of field problems); this
handler renders them all the same way. Unexpected exceptions are logged with their
traceback on the server and answered with a bare 500 that reveals nothing.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

__all__ = ["ApiError", "api_exception_handler", "error_body"]

log = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An API error with a machine code, a sentence, and field-level details."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code or self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.code = code or self.default_code
        self.details = details or []


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _flatten(detail: Any, path: str = "") -> list[dict[str, Any]]:
    """DRF's nested ValidationError detail as a flat list of {field, code, message}."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            field = key if key != "non_field_errors" else ""
            out.extend(_flatten(value, f"{path}.{field}" if path and field else field or path))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                out.extend(_flatten(value, f"{path}[{index}]"))
            else:
                out.extend(_flatten(value, path))
        return out
    code = getattr(detail, "code", "invalid")
    return [{"field": path, "code": code, "message": str(detail)}]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "Permission denied.")

    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        log.exception("unhandled error in %s", type(view).__name__ if view else "API view")
        set_rollback()
        return Response(
            error_body("server_error", "The server failed to handle this request."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, ApiError):
        body = error_body(exc.code, str(exc.detail), exc.details)
    elif isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        fields = ", ".join(sorted({d["field"] for d in details if d["field"]}))
        message = f"Invalid input: {fields}." if fields else (details[0]["message"] if details else "Invalid input.")
        body = error_body("invalid", message, details)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        body = error_body(code, str(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)
