"""Celery discovers tasks here; they live with their topic."""
from plugins_core.events.tasks import (
    dispatch_event,
    dispatch_pending_events,
    prune_invocation_logs,
    recover_stalled_invocations,
    run_event_hooks,
)
from plugins_core.health import heartbeat
from plugins_core.jobs.tasks import (
    execute_run,
    recover_job_runs,
    run_due_scheduled_tasks,
    run_scheduled,
)
from plugins_core.lifecycle import run_lifecycle
from plugins_core.webhooks.tasks import deliver_webhook, send_due_webhooks

__all__ = [
    "deliver_webhook", "dispatch_event", "dispatch_pending_events", "execute_run", "heartbeat", "prune_invocation_logs", "recover_job_runs",
    "recover_stalled_invocations", "run_due_scheduled_tasks", "run_event_hooks", "run_lifecycle", "run_scheduled",
    "send_due_webhooks",
]
