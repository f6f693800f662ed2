"""Helpers shared by the jobs, integration and fault tests."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import make_zip, upload

JOB_PLUGINS = Path(__file__).parent / "plugins"


def plugin_zip(name: str, **replace: str) -> bytes:
    root = JOB_PLUGINS / name
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            data = path.read_text()
            for old, new in replace.items():
                data = data.replace(old, new)
            files[str(path.relative_to(root))] = data.encode()
    return make_zip(files)


def install(actor, data: bytes, filename: str = "plugin.zip", *, enable: bool = True):
    """Upload for the actor's tenant, enable, sync its jobs; returns the Installation."""
    from plugins_core import services
    from plugins_core.jobs import sync_installation_jobs
    from plugins_core.models import Installation

    response = upload(actor, data, filename)
    assert response.status_code == 201, response.content
    installation = Installation.objects.get(pk=response.json()["id"])
    if enable:
        services.enable(installation)
    sync_installation_jobs(installation)
    return Installation.objects.select_related("tenant", "plugin", "version").get(pk=installation.pk)
