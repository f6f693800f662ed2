"""Plugin lifecycle hooks: install, enable, disable, upgrade and uninstall.

The services call :func:`fire` at those moments; the hook runs in a Celery task after the
transaction commits, so a slow plugin never holds up the admin's request and a rolled
back change calls nothing. Uninstall is the exception (:func:`run_now`): once the row is
gone there is nothing for the hook to run against.
"""
from __future__ import annotations

import logging

from celery import shared_task

from plugins_core import queue, runner
from plugins_core.models import Installation, Invocation

__all__ = ["STAGES", "fire", "has_handlers", "run_lifecycle", "run_now"]

log = logging.getLogger(__name__)

STAGES = ("install", "enable", "disable", "upgrade", "uninstall")


def has_handlers(installation: Installation, stage: str) -> bool:
    lifecycle = (installation.version.load_report or {}).get("lifecycle") or {}
    return bool(lifecycle.get(stage))


def fire(installation: Installation, stage: str) -> None:
    if not has_handlers(installation, stage):
        return
    queue.after_commit("plugins_core.lifecycle.run_lifecycle", installation.pk, stage)  # best effort


def run_now(installation: Installation, stage: str) -> Invocation | None:
    if not has_handlers(installation, stage):
        return None
    return runner.invoke(installation, kind="lifecycle", name=stage)


@shared_task(acks_late=True, ignore_result=True)
def run_lifecycle(installation_id: int, stage: str) -> None:
    installation = Installation.objects.select_related("tenant", "plugin", "version").filter(pk=installation_id).first()
    if installation is not None:
        run_now(installation, stage)
