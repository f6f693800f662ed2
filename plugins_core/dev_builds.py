"""Dev builds: what ``plugyard dev`` pushes on every save, run at once without a version bump.

A dev build is checked exactly like an upload (the same ``services`` path: archive,
manifest, scan, load in the sandbox, the SDK's validator) and stored as a
:class:`~plugins_core.models.PluginVersion` with ``is_dev`` and the version
``<manifest version>+dev.<n>``. The publisher's installation switches to it in the same
transaction; the previous dev build is deleted. The sandbox keys its warm workers by the
version's sha256, so the next call runs the new code in a fresh worker.

The rules it keeps:

- only the plugin's publisher pushes dev builds, and only to its own tenant's installation
  (another tenant's is not found, as everywhere);
- a dev build is never offered: ``PluginVersion.objects`` (what the marketplace, the
  version history and ``Plugin.latest_version`` read) does not see it, and no
  ``version_uploaded`` signal is sent for it;
- the grant is kept as on an upgrade: what a dev build asks for beyond it waits for
  ``enable`` (``plugyard dev`` calls it, as the admin it must be);
- :func:`leave_dev_build` returns the installation to its latest released version.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from plugyard_sdk.config_schema import apply_config_defaults

from plugins_core import lifecycle, services, validation
from plugins_core.errors import PluginConflict, PluginError
from plugins_core.models import Installation, Plugin, PluginVersion, Subscription

__all__ = ["DevBuildResult", "dev_version_string", "leave_dev_build", "push_dev_build"]

_DEV_NUMBER = re.compile(r"dev\.(\d+)$")


@dataclass
class DevBuildResult:
    installation: Installation
    version: PluginVersion
    replaced: str | None = None  # the version string of the build it replaced
    unchanged: bool = False  # the same bytes as the running dev build: nothing was done
    created: bool = False  # the tenant had no installation of the plugin: this push made it
    warnings: list[dict[str, str]] = field(default_factory=list)


def dev_version_string(version: str, number: int) -> str:
    """``1.2.0`` → ``1.2.0+dev.3``; a version with build metadata gains ``.dev.3``."""
    return f"{version}{'.' if '+' in version else '+'}dev.{number}"


def push_dev_build(tenant, user, data: bytes, filename: str, installation: Installation | None = None) -> DevBuildResult:
    """Check ``data`` as an upload, store it as a dev build and switch to it now.

    With ``installation`` (the tenant's, looked up by the caller through ``for_tenant``)
    the package must be of its plugin. Without, the tenant's own plugin of the package's
    slug is used, installed (switched off) if the tenant has none yet, so ``plugyard dev``
    works before the first ``publish``. Raises InvalidPackage (400), PluginError (400,
    not the publisher, another slug) or PluginConflict (409, a slug clash).
    """
    with services._checked_package(data, filename) as checked:  # the upload's own checks
        manifest = checked.package.manifest
        if installation is not None and installation.plugin.slug != manifest.slug:
            raise PluginError(
                f"This package is {manifest.slug!r}; installation {installation.pk} runs {installation.plugin.slug!r}.",
                code="slug_mismatch",
                details=[{"field": "slug", "code": "slug_mismatch", "message": f"Expected {installation.plugin.slug!r}."}],
            )
        with transaction.atomic():
            result = _record(tenant, user, checked, len(data), installation)
    if result.created:
        lifecycle.fire(result.installation, "install")
    return result


def _record(tenant, user, checked, size: int, installation: Installation | None) -> DevBuildResult:
    package, manifest = checked.package, checked.package.manifest
    if installation is None:
        services._refuse_slug_clash(tenant, manifest.slug, publisher=tenant)
        plugin, _ = Plugin.objects.select_for_update().get_or_create(
            publisher=tenant, slug=manifest.slug, defaults={"name": manifest.name}
        )
        installation = Installation.objects.for_tenant(tenant).filter(plugin=plugin).first()
    else:
        plugin = Plugin.objects.select_for_update().get(pk=installation.plugin_id)
    if plugin.publisher_id != tenant.pk:
        raise PluginError(
            f"{plugin.slug} is published by another tenant; only its publisher can push dev builds of it.",
            code="not_publisher",
        )
    if installation is not None:
        installation = Installation.objects.select_for_update().select_related("version").get(pk=installation.pk)
        current = installation.version
        if current.is_dev and current.sha256 == package.sha256:
            return DevBuildResult(installation, current, unchanged=True, warnings=current.warnings)
    numbers = [int(m.group(1)) for v in PluginVersion.with_dev.filter(plugin=plugin, is_dev=True).values_list("version", flat=True)
               if (m := _DEV_NUMBER.search(v))]
    manifest_json = manifest.model_dump(mode="json")
    version = PluginVersion.with_dev.create(
        plugin=plugin, version=dev_version_string(manifest.version, max(numbers, default=0) + 1),
        manifest=manifest_json, config_schema=manifest.config_schema, package=checked.stored_name,
        package_format=package.archive_format, sha256=package.sha256, size=size, load_report=checked.report,
        warnings=[services._problem_dict(p) for p in checked.warnings], is_dev=True,
        webhooks=[spec.model_dump(mode="json") for spec in package.webhooks], uploaded_by=user,
    )
    Subscription.objects.bulk_create(
        Subscription(version=version, **row) for row in validation.subscriptions_from(manifest_json, checked.report)
    )
    replaced, created = None, installation is None
    if installation is None:
        installation = Installation.objects.create(
            tenant=tenant, plugin=plugin, version=version,
            config=apply_config_defaults(version.config_schema, {}), installed_by=user,
        )
    else:
        replaced = installation.version.version if installation.version.is_dev else None
        services._upgrade(installation, version)
    services.drop_dev_builds(plugin, keep=version)
    return DevBuildResult(installation, version, replaced=replaced, created=created, warnings=version.warnings)


def leave_dev_build(installation: Installation) -> Installation:
    """Return the installation from its dev build to the plugin's latest released version.

    Raises PluginConflict (409) when it runs no dev build, or no released version exists
    (a plugin only ever pushed with ``plugyard dev``: publish it, or uninstall).
    """
    with transaction.atomic():
        installation = Installation.objects.select_for_update().select_related("version", "plugin").get(pk=installation.pk)
        if not installation.version.is_dev:
            raise PluginConflict(f"{installation.plugin.slug} runs {installation.version.version}, not a dev build.",
                                 code="no_dev_build")
        released = installation.plugin.latest_version
        if released is None:
            raise PluginConflict(
                f"{installation.plugin.slug} has no released version to return to: publish one, or uninstall it.",
                code="no_released_version",
            )
        services._upgrade(installation, released)
        services.drop_dev_builds(installation.plugin)
    return installation


def describe(result: DevBuildResult) -> dict[str, Any]:
    """What the API adds to the installation for a push."""
    version = result.version
    # What the code registered (an SBH manifest may say only "routes": true), as /ext matches it.
    routes = (version.load_report or {}).get("routes") or version.manifest.get("routes") or []
    return {"dev_version": version.version, "replaced": result.replaced, "unchanged": result.unchanged,
            "created": result.created, "warnings": result.warnings,
            "routes": [{"path": r.get("path"), "methods": r.get("methods")} for r in routes if isinstance(r, dict)]}
