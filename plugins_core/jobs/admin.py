"""Admin for plugin schedules (pause, resume, reschedule) and the runs they made.

Imported by ``plugins_core.admin``. Editing a schedule here writes through to its beat row
(django-celery-beat's "Periodic tasks" shows those too; edit schedules here, since a sync
rewrites the beat row from the schedule).
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from plugins_core.jobs.models import JobRun, ScheduledTask, ScheduleKind
from plugins_core.jobs.schedules import CronError, parse_cron
from plugins_core.jobs.sync import apply_to_beat


class ScheduledTaskForm(forms.ModelForm):
    class Meta:
        model = ScheduledTask
        fields = ["cron", "paused", "status"]

    def clean_cron(self) -> str:
        cron = self.cleaned_data["cron"]
        if self.instance.kind == ScheduleKind.ONCE:
            return ""
        try:
            return parse_cron(cron)
        except CronError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(ScheduledTask)
class ScheduledTaskAdmin(admin.ModelAdmin):
    form = ScheduledTaskForm
    list_display = ["name", "kind", "installation", "tenant", "cron", "run_at", "status", "paused", "updated_at"]
    list_filter = ["kind", "status", "paused", "tenant"]
    search_fields = ["name", "handler", "task_id", "installation__plugin__slug", "tenant__slug"]
    readonly_fields = ["task_id", "tenant", "installation", "kind", "name", "handler", "kwargs", "declared_cron",
                       "run_at", "periodic_task", "created_at", "updated_at"]
    fields = ["task_id", "tenant", "installation", "kind", "name", "handler", "kwargs", "cron", "declared_cron",
              "run_at", "status", "paused", "periodic_task", "created_at", "updated_at"]
    actions = ["pause", "resume"]

    def has_add_permission(self, request) -> bool:
        return False  # schedules come from plugins

    def save_model(self, request, obj: ScheduledTask, form, change) -> None:
        super().save_model(request, obj, form, change)
        apply_to_beat(obj)

    @admin.action(description="Pause the selected schedules")
    def pause(self, request, queryset) -> None:
        self._switch(request, queryset, True)

    @admin.action(description="Resume the selected schedules")
    def resume(self, request, queryset) -> None:
        self._switch(request, queryset, False)

    def _switch(self, request, queryset, paused: bool) -> None:
        count = 0
        for task in queryset.select_related("installation__tenant", "installation__plugin", "periodic_task"):
            task.paused = paused
            task.save(update_fields=["paused", "updated_at"])
            apply_to_beat(task)
            count += 1
        messages.success(request, f"{'Paused' if paused else 'Resumed'} {count} schedule(s).")


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "installation", "trigger", "slot", "run_status", "queued_at", "started_at"]
    list_filter = ["kind", "trigger", "invocation__status", "tenant"]
    search_fields = ["name", "installation__plugin__slug", "tenant__slug"]
    list_select_related = ["invocation", "installation__plugin", "installation__tenant"]
    readonly_fields = ["tenant", "installation", "scheduled_task", "kind", "name", "trigger", "slot", "invocation",
                       "requested_by", "queued_at", "sent_at", "started_at", "run_status", "error", "logs"]
    fields = readonly_fields

    @admin.display(description="status")
    def run_status(self, obj: JobRun) -> str:
        return obj.invocation.status

    @admin.display(description="error")
    def error(self, obj: JobRun) -> str:
        return obj.invocation.error

    @admin.display(description="logs")
    def logs(self, obj: JobRun) -> str:
        return "\n".join(obj.invocation.logs or [])

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
