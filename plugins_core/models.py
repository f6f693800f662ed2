"""Plugins, their immutable versions, per-tenant installations and encrypted secrets."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.scoping import TenantOwned, TenantQuerySet

__all__ = ["Installation", "Plugin", "PluginVersion", "ReleasedVersionManager", "Secret"]


class Plugin(models.Model):
    """A plugin: a slug in its publisher tenant's namespace (like an npm scope).

    Two publishers may both have a ``my-plugin`` (both guides' examples use that slug); a
    tenant installs at most one plugin of a slug, and the marketplace publishes at most one.
    """

    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    publisher = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="published_plugins")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["publisher", "slug"], name="slug_once_per_publisher")]
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def latest_version(self) -> PluginVersion | None:
        # ``versions`` uses the default manager: released versions only, never a dev build.
        return self.versions.order_by("-created_at").first()


class ReleasedVersionManager(models.Manager):
    """The default manager: uploaded versions, without dev builds (``plugyard dev``).

    Being the default, it is what ``Plugin.versions``, the marketplace and the admin see, so
    a dev build can never be listed, offered or installed elsewhere by a query that forgot
    to exclude it. ``PluginVersion.with_dev`` sees every row (``plugins_core.dev_builds``).
    """

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(is_dev=False)


class PluginVersion(models.Model):
    """One uploaded package. Immutable: a slug and version are stored once.

    A dev build (``is_dev``) is the exception: pushed by ``plugyard dev`` as
    ``<version>+dev.<n>``, run only by its publisher's installation, and replaced (deleted)
    by the next push. See ``plugins_core/dev_builds.py``.
    """

    plugin = models.ForeignKey(Plugin, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    manifest = models.JSONField(help_text="The normalised manifest, as the SDK parsed it.")
    config_schema = models.JSONField(
        null=True, blank=True, help_text="JSON Schema for installation config; staff may edit it."
    )
    package = models.FileField(upload_to="packages/", max_length=255)
    package_format = models.CharField(max_length=8, choices=[("zip", "zip"), ("tar.gz", "tar.gz")])
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveIntegerField()
    load_report = models.JSONField(default=dict, blank=True, help_text="What the code registered when loaded.")
    warnings = models.JSONField(default=list, blank=True)
    webhooks = models.JSONField(default=list, blank=True, help_text="The package's webhooks/*.yaml, as the SDK parsed them.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    is_dev = models.BooleanField(
        default=False, help_text="A dev build (plugyard dev): never listed, replaced by the next push."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ReleasedVersionManager()
    with_dev = models.Manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plugin", "version"], name="version_once_per_plugin")]
        ordering = ["plugin__slug", "-created_at"]
        # Foreign keys (installation.version) and cascades must reach dev builds too.
        base_manager_name = "with_dev"

    def __str__(self) -> str:
        return f"{self.plugin.slug} {self.version}"

    @property
    def permissions(self) -> list[str]:
        return list(self.manifest.get("permissions", []))


class Installation(TenantOwned):
    """A plugin version installed for one tenant: its switch, config and granted permissions."""

    plugin = models.ForeignKey(Plugin, on_delete=models.PROTECT, related_name="installations")
    version = models.ForeignKey(PluginVersion, on_delete=models.PROTECT, related_name="installations")
    enabled = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True)
    granted_permissions = models.JSONField(default=list, blank=True)
    approved_domains = models.JSONField(default=list, blank=True)
    installed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "plugin"], name="install_once_per_tenant")]
        ordering = ["plugin__slug"]

    def __str__(self) -> str:
        return f"{self.plugin.slug} for {self.tenant.slug}"

    @property
    def pending_permissions(self) -> list[str]:
        """Permissions the installed version asks for that the tenant has not granted."""
        return sorted(set(self.version.permissions) - set(self.granted_permissions))


class Secret(models.Model):
    """A named secret of one installation; only ciphertext is stored (see plugins_core.secrets)."""

    TENANT_PATH = "installation__tenant"

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100)
    ciphertext = models.BinaryField(editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["installation", "name"], name="secret_name_once")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (encrypted)"


class InvocationStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"  # the plugin raised
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASH = "crash"
    DENIED = "denied"  # refused before running (disabled, missing permission)
    SKIPPED = "skipped"  # e.g. a filter passed over
    BUSY = "busy"  # refused before running: the tenant's concurrency budget was full
    UNAVAILABLE = "unavailable"  # refused before running: the sandbox service was not reachable


#: Outcomes after which an invocation never runs again. A hook refused before running
#: (busy, unavailable) is handed back as pending instead, so only jobs and calls made
#: once (routes, filters) end in those two.
TERMINAL_STATUSES = frozenset({
    InvocationStatus.OK, InvocationStatus.ERROR, InvocationStatus.TIMEOUT, InvocationStatus.MEMORY,
    InvocationStatus.CRASH, InvocationStatus.DENIED, InvocationStatus.SKIPPED, InvocationStatus.BUSY,
    InvocationStatus.UNAVAILABLE,
})


class Invocation(TenantOwned):
    """One call of plugin code — hook, filter, route, job, transform or lifecycle — and its outcome."""

    KIND_CHOICES = [(k, k) for k in ("hook", "filter", "route", "job", "task", "transform", "lifecycle", "load")]

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="invocations")
    kind = models.CharField(max_length=12, choices=KIND_CHOICES)
    name = models.CharField(max_length=200, help_text="Handler, route, job or hook name.")
    event = models.ForeignKey("plugins_core.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="invocations")
    status = models.CharField(max_length=12, choices=InvocationStatus.choices, default=InvocationStatus.PENDING)
    duration_ms = models.FloatField(null=True, blank=True)
    peak_memory_kb = models.PositiveIntegerField(null=True, blank=True)
    logs = models.JSONField(default=list, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    input = models.JSONField(
        null=True, blank=True,
        help_text="What the call was given when no event or schedule holds it (routes: the request; filters and "
                  "test-event hooks: the payload), for a replay; null when too large or not recorded.",
    )
    report = models.JSONField(
        default=dict, blank=True,
        help_text='What the sandbox and host observed: {"ctx_calls": [{"method", "ms", "ok", "error"?}], '
                  '"tripwires": [...], "rpc_calls": n, "truncated": {"result": bool, "logs": bool}}; '
                  "{} when nothing ran.",
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # An event's handler runs to completion at most once per installation.
            models.UniqueConstraint(fields=["event", "installation", "name"], name="invocation_once_per_event",
                                    condition=models.Q(event__isnull=False)),
        ]
        indexes = [models.Index(fields=["installation", "kind", "created_at"], name="invocation_browse")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.status})"


class TenantUsage(models.Model):
    """What a tenant's plugins hold and write, against the tenant budgets (``usage.py``)."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, primary_key=True,
                                  related_name="plugin_usage")
    file_bytes = models.BigIntegerField(default=0, help_text="Bytes of the tenant's plugin files in storage.")
    file_count = models.IntegerField(default=0)
    log_day = models.DateField(null=True, blank=True)
    log_bytes = models.BigIntegerField(default=0, help_text="Invocation-log bytes stored on log_day.")

    def __str__(self) -> str:
        return f"usage of {self.tenant_id}"


class Heartbeat(models.Model):
    """The last sign of life of one kind of background process (``plugins_core/health.py``).

    ``beat`` is written by beat's scheduler as it ticks; ``worker`` by the heartbeat task
    beat sends every few seconds, when a worker runs it: a fresh ``worker`` row means the
    whole path beat → broker → worker → database works.
    """

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()
    detail = models.CharField(max_length=200, blank=True, help_text="Who wrote it (host, pid).")

    def __str__(self) -> str:
        return f"{self.name} at {self.at.isoformat()}"

    @classmethod
    def touch(cls, name: str, detail: str = "") -> None:
        cls.objects.update_or_create(name=name, defaults={"at": timezone.now(), "detail": detail[:200]})


# Models that belong to a topic live with it; importing them here registers them with the app.
from plugins_core.events.models import Event, Subscription  # noqa: E402
from plugins_core.host.models import LlmUsage, PluginStorageItem, WebhookSubscription  # noqa: E402
from plugins_core.jobs.models import JobLock, JobRun, ScheduledTask  # noqa: E402
from plugins_core.webhooks.models import WebhookAttempt, WebhookDelivery  # noqa: E402

__all__ += [
    "Event", "Heartbeat", "Invocation", "InvocationStatus", "TenantUsage", "JobLock", "JobRun", "LlmUsage", "PluginStorageItem",
    "ScheduledTask", "Subscription", "WebhookAttempt", "WebhookDelivery", "WebhookSubscription",
]
