"""Errors raised by plugin services; each carries its HTTP status and a code for the API."""
from __future__ import annotations

from typing import Any

from rest_framework import status

from config.errors import ApiError

__all__ = ["InvalidConfig", "InvalidPackage", "NotReady", "PluginConflict", "PluginError", "problems_as_details"]


def problems_as_details(problems: list[Any]) -> list[dict[str, str]]:
    """Problems as API details; the SDK's whole-archive field is the upload's ``file`` field."""
    return [
        {
            "field": "file" if p.field == "archive" else p.field,
            "code": str(getattr(p.code, "value", p.code)),
            "message": p.message,
        }
        for p in problems
    ]


class PluginError(ApiError):
    """Base of the plugin services' errors."""


class InvalidPackage(PluginError):
    default_code = "invalid_package"

    def __init__(self, problems: list[Any]) -> None:
        fields = ", ".join(dict.fromkeys(p.field for p in problems))
        super().__init__(
            f"The package is invalid ({len(problems)} problem(s): {fields}).",
            details=problems_as_details(problems),
        )


class PluginConflict(PluginError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class InvalidConfig(PluginError):
    default_code = "invalid_config"

    def __init__(self, problems: list[Any]) -> None:
        fields = ", ".join(dict.fromkeys(p.field for p in problems))
        super().__init__(f"The config does not match the plugin's config_schema: {fields}.", details=problems_as_details(problems))


class NotReady(PluginError):
    """Enabling refused: a setting or secret the plugin needs is missing, or an app's
    readiness check refuses (``plugins_core.readiness``)."""

    default_code = "not_ready"

    def __init__(self, plugin_name: str, details: list[dict[str, str]]) -> None:
        fields = ", ".join(d["field"] for d in details)
        if all(d["field"].startswith(("config.", "secrets.")) for d in details):
            message = f"{plugin_name} cannot be enabled until these are set: {fields}."
        else:  # an app's own check (an entitlement) says what to do in its message
            message = f"{plugin_name} cannot be enabled: " + " ".join(d["message"] for d in details)
        super().__init__(message, details=details)
