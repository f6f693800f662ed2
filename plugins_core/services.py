"""The plugin lifecycle: upload (validate, store, install), enable, disable, configure, uninstall.

Every state change of a plugin goes through here, whether it comes from the API, the admin,
a management command or demo data, so the rules live in one place.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from plugyard_sdk.config_schema import apply_config_defaults
from plugyard_sdk.package import PackageInvalid, PluginPackage

from plugins_core import lifecycle, packages, permission_diff, readiness, signals, validation
from plugins_core.errors import InvalidPackage, PluginConflict
from plugins_core.installation_config import update_config
from plugins_core.jobs import remove_installation_jobs, sync_installation_jobs
from plugins_core.models import Installation, Plugin, PluginVersion, Subscription
from plugins_core.permission_diff import GrantDiff, requested_domains
from plugins_core.readiness import Readiness
from plugins_core.sandboxes import get_sandbox

__all__ = [
    "UninstallSummary",
    "UploadResult",
    "disable",
    "drop_dev_builds",
    "enable",
    "install_version",
    "installation_readiness",
    "pending_grant",
    "uninstall",
    "uninstall_summary",
    "update_config",
    "upload_package",
]


@dataclass
class UploadResult:
    installation: Installation
    version: PluginVersion
    upgraded_from: str | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)


def upload_package(tenant, user, data: bytes, filename: str) -> UploadResult:
    """Validate an archive, store it, and install (or upgrade) it for the uploader's tenant.

    Raises InvalidPackage (400, every problem by field) or PluginConflict (409). On any
    error nothing is stored: the database work is one transaction, and an archive written
    by this call is removed again.

    Checks run cheapest first. The SDK's (archive, manifest shape and rules, static scan)
    stop the upload on their own: code they refuse is not loaded. Past them the code can
    be loaded safely, so the host's rules on the manifest (event catalog, filters, webhook
    permission) and on what the code registered are reported together, in one answer.
    """
    with _checked_package(data, filename) as checked:
        with transaction.atomic():
            result = _record_upload(tenant, user, checked.package, checked.stored_name, len(data), checked.report,
                                    checked.warnings)
    lifecycle.fire(result.installation, "upgrade" if result.upgraded_from else "install")
    return result


@dataclass
class _Checked:
    package: PluginPackage
    report: dict[str, Any]
    warnings: list[Any]
    stored_name: str


@contextmanager
def _checked_package(data: bytes, filename: str) -> Iterator[_Checked]:
    """An archive read, unpacked, loaded and validated as every upload is, then stored.

    The one path for an upload and a dev build (``push_dev_build``): the same checks, the
    same answer. If the caller's block fails, the files this call created are removed
    again, unless a version row (released or dev) uses them.
    """
    # The static scan and the load check share one budget: the request waits at most the
    # sandbox's load timeout for both (plus the sandbox client's margin).
    budget = get_sandbox().policy.load_timeout_s
    started = time.monotonic()
    try:
        package = packages.parse_upload(data, filename, scan_timeout_s=budget)
    except PackageInvalid as exc:
        raise InvalidPackage(exc.problems) from None

    directory_is_new = not packages.plugin_dir(package.sha256).exists()
    directory = packages.unpack(package)
    stored_name, archive_is_new = None, False
    try:
        report = _load_report(package, directory, max(1.0, budget - (time.monotonic() - started)))
        # The SDK's one validator, as `plugyard validate` runs it (with the host's catalog).
        findings = validation.validate(package, report)
        if findings.problems:
            raise InvalidPackage(findings.problems)
        stored_name, archive_is_new = packages.store_archive(data, package.sha256, package.archive_format)
        yield _Checked(package, report, findings.warnings, stored_name)
    except BaseException:
        if not PluginVersion.with_dev.filter(sha256=package.sha256).exists():
            if archive_is_new:
                default_storage.delete(stored_name)
            if directory_is_new:
                packages.remove_unpacked(package.sha256)
        raise


def _load_report(package: PluginPackage, directory, timeout: float) -> dict[str, Any]:
    """Load the code in the sandbox and return what it registered (see validation.py)."""
    manifest = package.manifest
    report = get_sandbox().inspect(
        directory, manifest.entry, version_key=f"{manifest.slug}@{manifest.version}:{package.sha256[:16]}",
        timeout=timeout,
    )
    return asdict(report)


def _record_upload(
    tenant, user, package: PluginPackage, stored_name: str, size: int, report: dict[str, Any], warnings: list[Any]
) -> UploadResult:
    manifest = package.manifest
    _refuse_slug_clash(tenant, manifest.slug, publisher=tenant)
    plugin, _ = Plugin.objects.select_for_update().get_or_create(
        publisher=tenant, slug=manifest.slug, defaults={"name": manifest.name}
    )
    if plugin.versions.filter(version=manifest.version).exists():
        raise PluginConflict(
            f"{manifest.slug} {manifest.version} was uploaded already; versions are immutable, "
            "so raise the version number.",
            details=[{"field": "version", "code": "version_exists", "message": "This version exists."}],
        )
    manifest_json = manifest.model_dump(mode="json")
    try:
        version = PluginVersion.objects.create(
            plugin=plugin,
            version=manifest.version,
            manifest=manifest_json,
            config_schema=manifest.config_schema,
            package=stored_name,
            package_format=package.archive_format,
            sha256=package.sha256,
            size=size,
            load_report=report,
            warnings=[_problem_dict(p) for p in warnings],  # the validator's: the scan's and the rules'

            webhooks=[spec.model_dump(mode="json") for spec in package.webhooks],
            uploaded_by=user,
        )
    except IntegrityError:  # a concurrent upload of the same version won the race
        raise PluginConflict(f"{manifest.slug} {manifest.version} was uploaded already.") from None
    Subscription.objects.bulk_create(
        Subscription(version=version, **row) for row in validation.subscriptions_from(manifest_json, report)
    )
    if plugin.name != manifest.name:
        plugin.name = manifest.name
        plugin.save(update_fields=["name"])
    signals.version_uploaded.send(sender=PluginVersion, plugin=plugin, version=version, manifest=manifest_json)

    installation = Installation.objects.for_tenant(tenant).filter(plugin=plugin).first()
    upgraded_from = None
    if installation is None:
        installation = Installation.objects.create(
            tenant=tenant,
            plugin=plugin,
            version=version,
            config=apply_config_defaults(version.config_schema, {}),
            installed_by=user,
        )
    else:
        upgraded_from = installation.version.version
        _upgrade(installation, version)
        drop_dev_builds(plugin)  # a release replaces the dev build it was developed as
    return UploadResult(installation, version, upgraded_from, version.warnings)


def drop_dev_builds(plugin: Plugin, *, keep: PluginVersion | None = None) -> int:
    """Delete the plugin's dev builds no installation runs (but ``keep``); returns how many.

    Their archive and unpacked copy go after the commit, unless another version row uses
    the same bytes (the same content pushed twice, or released).
    """
    stale = PluginVersion.with_dev.filter(plugin=plugin, is_dev=True).exclude(installations__isnull=False)
    if keep is not None:
        stale = stale.exclude(pk=keep.pk)
    doomed = list(stale.values_list("pk", "sha256", "package"))
    PluginVersion.with_dev.filter(pk__in=[pk for pk, _, _ in doomed]).delete()
    for _, sha256, stored_name in doomed:
        transaction.on_commit(lambda sha256=sha256, stored_name=stored_name: _remove_unused(sha256, stored_name))
    return len(doomed)


def _remove_unused(sha256: str, stored_name: str) -> None:
    if not PluginVersion.with_dev.filter(sha256=sha256).exists():
        default_storage.delete(stored_name)
        packages.remove_unpacked(sha256)


def _refuse_slug_clash(tenant, slug: str, *, publisher) -> None:
    """A tenant's routes live at /ext/<slug>/, so it installs one plugin of each slug."""
    clash = Installation.objects.for_tenant(tenant).filter(plugin__slug=slug).exclude(plugin__publisher=publisher)
    if clash.exists():
        raise PluginConflict(
            f"This tenant has another publisher's {slug!r} installed; uninstall it first.",
            details=[{"field": "slug", "code": "slug_installed", "message": "Another plugin with this slug is installed."}],
        )


def _upgrade(installation: Installation, version: PluginVersion) -> None:
    """Move an installation to a new version; what it asks for beyond the grant waits.

    The installation keeps its switch and exactly what the tenant granted: every ``ctx``
    call is checked against ``granted_permissions`` and every outbound request against
    ``approved_domains``, so a version that asks for more cannot use it until an admin
    approves the difference (``permission_diff.pending``) with :func:`enable`. Switching
    it off instead would stop a working plugin over a request nobody has answered yet.
    """
    installation.version = version
    installation.config = apply_config_defaults(version.config_schema, installation.config)
    installation.save()
    sync_installation_jobs(installation)


def _problem_dict(problem: Any) -> dict[str, str]:
    return {"field": problem.field, "code": str(getattr(problem.code, "value", problem.code)), "message": problem.message}


def install_version(tenant, user, version: PluginVersion) -> Installation:
    """Install a published version for a tenant (from the marketplace); switched off.

    Installing a plugin the tenant has already upgrades that installation to ``version``.
    """
    _refuse_slug_clash(tenant, version.plugin.slug, publisher=version.plugin.publisher)
    installation = Installation.objects.for_tenant(tenant).filter(plugin=version.plugin).first()
    if installation is None:
        installation = Installation.objects.create(
            tenant=tenant,
            plugin=version.plugin,
            version=version,
            config=apply_config_defaults(version.config_schema, {}),
            installed_by=user,
        )
        lifecycle.fire(installation, "install")
    elif installation.version_id != version.pk:
        _upgrade(installation, version)
        lifecycle.fire(installation, "upgrade")
    return installation


def installation_readiness(installation: Installation) -> Readiness:
    """What the installation lacks before it may be enabled (``plugins_core.readiness``)."""
    return readiness.readiness(installation)


def pending_grant(installation: Installation) -> GrantDiff:
    """The installed version's permissions and domains against the grant (``permission_diff``)."""
    return permission_diff.pending(installation)


def enable(installation: Installation) -> Installation:
    """Switch an installation on, granting what its version asks for (the admin approves).

    The one way to consent: the API's ``POST /api/plugins/<id>/enable``, the page's Enable
    and, for an enabled installation whose new version asks for more, its Approve button.
    Raises NotReady (400, by field) while a setting or secret it needs is missing, or a
    check an app registered with ``readiness.register_check`` refuses.
    """
    readiness.check(installation)
    installation.granted_permissions = sorted(installation.version.permissions)
    installation.approved_domains = requested_domains(installation.version)
    was_enabled = installation.enabled
    installation.enabled = True
    installation.save(update_fields=["granted_permissions", "approved_domains", "enabled", "updated_at"])
    sync_installation_jobs(installation)
    if not was_enabled:
        lifecycle.fire(installation, "enable")
    return installation


def disable(installation: Installation) -> Installation:
    was_enabled = installation.enabled
    installation.enabled = False
    installation.save(update_fields=["enabled", "updated_at"])
    sync_installation_jobs(installation)
    if was_enabled:
        lifecycle.fire(installation, "disable")
    return installation


@dataclass(frozen=True)
class UninstallSummary:
    """What :func:`uninstall` removes with an installation, counted, for a confirmation page.

    Deleted with the row (foreign keys that cascade): its config, secrets, key-value
    storage, schedules (and their beat rows), invocation records, job runs, webhook
    deliveries and the webhook subscriptions it created. Kept: the tenant's files
    (``ctx.files`` is the tenant's storage, shared by its plugins), the events it emitted
    (they lose their link to it) and the plugin's versions (still installable).
    """

    has_uninstall_hook: bool
    secrets: int
    storage_keys: int
    schedules: int
    invocations: int
    job_runs: int
    webhook_deliveries: int
    webhook_subscriptions: int


def uninstall_summary(installation: Installation) -> UninstallSummary:
    return UninstallSummary(
        has_uninstall_hook=lifecycle.has_handlers(installation, "uninstall"),
        secrets=installation.secrets.count(),
        storage_keys=installation.storage_items.count(),
        schedules=installation.scheduled_tasks.count(),
        invocations=installation.invocations.count(),
        job_runs=installation.job_runs.count(),
        webhook_deliveries=installation.webhook_deliveries.count(),
        webhook_subscriptions=installation.webhook_subscriptions.count(),
    )


def uninstall(installation: Installation) -> None:
    """Remove an installation and everything of it :class:`UninstallSummary` lists.

    The plugin's uninstall hook runs first, synchronously: afterwards there is nothing
    left for it to run against.
    """
    lifecycle.run_now(installation, "uninstall")
    remove_installation_jobs(installation)
    installation.delete()
