"""Errors of the jobs services; each carries its HTTP status and a code for the API."""
from __future__ import annotations

from rest_framework import status

from plugins_core.errors import PluginError

__all__ = ["JobError", "PluginDisabled", "UnknownJob"]


class JobError(PluginError):
    """Base of the jobs services' errors."""


class UnknownJob(JobError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "unknown_job"

    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none"
        super().__init__(
            f"This plugin has no job named {name!r}; its jobs: {listed}.",
            details=[{"field": "name", "code": "unknown_job", "message": f"Not a job of this plugin (jobs: {listed})."}],
        )


class PluginDisabled(JobError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "plugin_disabled"

    def __init__(self, slug: str) -> None:
        super().__init__(
            f"{slug} is disabled; enable it before running its jobs.",
            details=[{"field": "enabled", "code": "plugin_disabled", "message": "The installation is disabled."}],
        )
