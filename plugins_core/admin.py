"""Admin for plugins, versions (manifest read-only), installations and write-only secrets."""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from plugyard_sdk.config_schema import check_config_schema

from plugins_core import secrets, services
from plugins_core.errors import InvalidConfig, NotReady
from plugins_core.events.catalog import all_events
from plugins_core.models import (
    Event,
    Installation,
    Invocation,
    Plugin,
    PluginVersion,
    Secret,
    Subscription,
    WebhookAttempt,
    WebhookDelivery,
)
from plugins_core.webhooks.delivery import DeliveryBusy, redeliver


def _pretty(value) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class VersionInline(admin.TabularInline):
    model = PluginVersion
    fields = ["version", "sha256", "size", "uploaded_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Plugin)
class PluginAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "publisher", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["slug", "publisher", "created_at"]
    inlines = [VersionInline]


class PluginVersionForm(forms.ModelForm):
    """Staff may edit a version's config schema; it must stay a valid JSON Schema."""

    class Meta:
        model = PluginVersion
        fields = ["config_schema"]

    def clean_config_schema(self):
        schema = self.cleaned_data["config_schema"]
        problems = check_config_schema(schema) if schema is not None else []
        if problems:
            raise forms.ValidationError([f"{p.field}: {p.message}" for p in problems])
        return schema


@admin.register(PluginVersion)
class PluginVersionAdmin(admin.ModelAdmin):
    form = PluginVersionForm
    list_display = ["plugin", "version", "size", "uploaded_by", "created_at"]
    list_filter = ["plugin"]
    search_fields = ["plugin__slug", "version", "sha256"]
    readonly_fields = ["plugin", "version", "sha256", "size", "package", "package_format",
                       "uploaded_by", "created_at", "manifest_view", "load_report_view", "warnings_view"]
    fields = ["plugin", "version", "sha256", "size", "package", "package_format", "uploaded_by",
              "created_at", "config_schema", "manifest_view", "load_report_view", "warnings_view"]

    def has_add_permission(self, request) -> bool:
        return False  # versions come from uploads only

    @admin.display(description="manifest")
    def manifest_view(self, obj: PluginVersion) -> str:
        return _pretty(obj.manifest)

    @admin.display(description="load report")
    def load_report_view(self, obj: PluginVersion) -> str:
        return _pretty(obj.load_report)

    @admin.display(description="warnings")
    def warnings_view(self, obj: PluginVersion) -> str:
        return _pretty(obj.warnings)


class SecretForm(forms.ModelForm):
    """Write-only: a value can be set or replaced, never read back."""

    value = forms.CharField(widget=forms.PasswordInput(render_value=False), required=True,
                            help_text="Stored encrypted; it is never shown again.")

    class Meta:
        model = Secret
        fields = ["installation", "name"]

    def clean_name(self):
        name = self.cleaned_data["name"]
        if not secrets.SECRET_NAME_RE.match(name):
            raise forms.ValidationError("Use letters, digits and underscores, starting with a letter or underscore.")
        return name


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    form = SecretForm
    list_display = ["name", "installation", "masked", "updated_at"]
    search_fields = ["name", "installation__plugin__slug", "installation__tenant__slug"]
    autocomplete_fields = ["installation"]

    @admin.display(description="value")
    def masked(self, obj: Secret) -> str:
        return "••••••••"

    def save_model(self, request, obj, form, change):
        saved = secrets.set_secret(form.cleaned_data["installation"], form.cleaned_data["name"], form.cleaned_data["value"])
        obj.pk = saved.pk


class SecretInline(admin.TabularInline):
    model = Secret
    fields = ["name", "updated_at"]
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin):
    list_display = ["plugin", "tenant", "version", "enabled", "updated_at"]
    list_filter = ["enabled", "tenant", "plugin"]
    search_fields = ["plugin__slug", "tenant__slug"]
    readonly_fields = ["tenant", "plugin", "version", "granted_permissions", "approved_domains",
                       "installed_by", "created_at", "updated_at"]
    fields = ["tenant", "plugin", "version", "enabled", "config", "granted_permissions",
              "approved_domains", "installed_by", "created_at", "updated_at"]
    inlines = [SecretInline]
    actions = ["enable_selected", "disable_selected"]

    def has_add_permission(self, request) -> bool:
        return False  # installs come from uploads and the marketplace

    def save_model(self, request, obj, form, change):
        if "config" in form.changed_data:
            try:
                services.update_config(Installation.objects.get(pk=obj.pk), obj.config, replace=True)
            except InvalidConfig as exc:
                messages.error(request, f"Config not saved: {exc.detail}")
                return
        if "enabled" in form.changed_data:
            try:
                (services.enable if obj.enabled else services.disable)(Installation.objects.get(pk=obj.pk))
            except NotReady as exc:
                messages.error(request, f"Not enabled: {exc.detail}")

    @admin.action(description="Enable selected installations")
    def enable_selected(self, request, queryset):
        for installation in queryset:
            try:
                services.enable(installation)
            except NotReady as exc:
                messages.error(request, f"{installation}: {exc.detail}")

    @admin.action(description="Disable selected installations")
    def disable_selected(self, request, queryset):
        for installation in queryset:
            services.disable(installation)


@admin.register(Invocation)
class InvocationAdmin(admin.ModelAdmin):
    """The invocation log: every hook, filter, route, job, task, transform and lifecycle call."""

    list_display = ["created_at", "installation", "kind", "name", "status", "duration_ms", "peak_memory_kb"]
    list_filter = ["kind", "status", "installation__tenant"]
    search_fields = ["name", "installation__plugin__slug", "error"]
    list_select_related = ["installation__plugin", "installation__tenant"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Invocation._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "tenant", "type", "depth", "source_installation", "dispatched_at"]
    list_filter = ["type", "tenant"]
    search_fields = ["type"]
    readonly_fields = ["tenant", "type", "payload_view", "depth", "source_installation", "created_at", "dispatched_at"]
    exclude = ["payload"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="payload")
    def payload_view(self, obj: Event) -> str:
        return _pretty(obj.payload)

    def get_urls(self):
        catalog = path("catalog/", self.admin_site.admin_view(self.catalog_view), name="plugins_core_event_catalog")
        return [catalog, *super().get_urls()]

    def catalog_view(self, request):
        """The event catalog: every event plugins may subscribe to, with its payload schema."""
        events = [
            {"spec": spec, "schema": json.dumps(spec.payload_schema, indent=2)} for spec in all_events()
        ]
        context = {**self.admin_site.each_context(request), "title": "Event catalog", "events": events,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/plugins_core/event_catalog.html", context)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "catalog_url": "catalog/"})


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Which handler of which version listens to which event (read-only; from uploads)."""

    list_display = ["event", "kind", "priority", "handler", "version"]
    list_filter = ["kind", "event"]
    search_fields = ["event", "handler", "version__plugin__slug"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["cycle", "number", "started_at", "duration_ms", "status_code", "error", "response_excerpt"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The webhook delivery log (read-only), each delivery with its attempts; redelivery as an action."""

    list_display = ["created_at", "installation", "webhook", "event", "status", "attempts", "target", "finished_at"]
    list_filter = ["status", "webhook", "installation__tenant"]
    search_fields = ["webhook", "installation__plugin__slug", "event__type", "error"]
    list_select_related = ["installation__plugin", "installation__tenant", "event"]
    date_hierarchy = "created_at"
    exclude = ["body", "lease_token"]
    readonly_fields = ["tenant", "installation", "webhook", "event", "status", "attempts", "max_attempts", "cycle",
                       "next_attempt_at", "lease_until", "target", "body_view", "error", "created_at", "finished_at"]
    inlines = [WebhookAttemptInline]
    actions = ["redeliver_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="body")
    def body_view(self, obj: WebhookDelivery) -> str:
        return _pretty(None if obj.body is None else json.loads(obj.body))

    @admin.action(description="Redeliver selected deliveries")
    def redeliver_selected(self, request, queryset):
        sent, busy = 0, 0
        for delivery in queryset.select_related("installation__version"):
            try:
                redeliver(delivery)
                sent += 1
            except DeliveryBusy:
                busy += 1
        messages.info(request, f"{sent} delivery(ies) queued again" + (f"; {busy} busy with an attempt" if busy else ""))


# Jobs register their own admin pages (scheduled tasks, job runs).
from plugins_core.jobs import admin as jobs_admin  # noqa: E402,F401
