"""Stored events (the outbox) and which plugin version's handlers subscribe to which event."""
from __future__ import annotations

from django.db import models

from tenants.scoping import TenantOwned, TenantQuerySet

__all__ = ["Event", "Subscription"]


class Event(TenantOwned):
    """An event raised in a tenant, stored in the raiser's transaction and dispatched after it.

    ``dispatched_at`` is set once its fan-out tasks are queued; events that stay undispatched
    (the broker was down at commit) are picked up by the ``dispatch_pending_events`` sweep.
    """

    type = models.CharField(max_length=200, db_index=True)
    payload = models.JSONField(default=dict)
    depth = models.PositiveSmallIntegerField(default=0, help_text="How many plugin emits led here.")
    root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="descendants",
        help_text="The event the chain of plugin emits began with (empty for an event nothing raised).",
    )
    source_installation = models.ForeignKey(
        "plugins_core.Installation", null=True, blank=True, on_delete=models.SET_NULL, related_name="emitted_events"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["dispatched_at", "created_at"], name="event_undispatched")]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class Subscription(models.Model):
    """One handler of a plugin version for one event, as its code registered it at upload."""

    KIND_CHOICES = [("action", "action"), ("filter", "filter")]

    version = models.ForeignKey("plugins_core.PluginVersion", on_delete=models.CASCADE, related_name="subscriptions")
    event = models.CharField(max_length=200)
    handler = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=KIND_CHOICES, default="action")
    priority = models.IntegerField(default=10, help_text="Higher runs first.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "event", "handler"], name="subscription_once"),
        ]
        indexes = [models.Index(fields=["event", "kind"], name="subscription_event")]
        ordering = ["-priority", "id"]

    def __str__(self) -> str:
        return f"{self.version} {self.event} -> {self.handler}"
