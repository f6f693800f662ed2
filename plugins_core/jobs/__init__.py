"""Plugin jobs and the Ops-Center scheduler: cron jobs as beat rows, runs, locks, run-now.

The lifecycle calls :func:`sync_installation_jobs` after enable, disable and upgrade, and
:func:`remove_installation_jobs` at uninstall (``plugins_core.services``).
"""
from __future__ import annotations

from typing import Any

__all__ = ["remove_installation_jobs", "sync_installation_jobs"]


# Imported when called: plugins_core.models imports this package's models while it loads,
# so the package itself must not import its modules (they import plugins_core.models).


def sync_installation_jobs(installation: Any) -> None:
    from plugins_core.jobs.sync import sync_installation_jobs as sync

    sync(installation)


def remove_installation_jobs(installation: Any) -> None:
    from plugins_core.jobs.sync import remove_installation_jobs as remove

    remove(installation)
