"""Job endpoints: the plugin's jobs with next and last runs, run-now, and the run history."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from config.query_filters import filter_by_query
from plugins_core.jobs import runs
from plugins_core.jobs.models import (
    JobRun,
    RunKind,
    ScheduledTask,
    ScheduleKind,
    ScheduleStatus,
    Trigger,
)
from plugins_core.jobs.scheduler import describe
from plugins_core.jobs.schedules import CronError, declared_jobs, next_run, parse_cron, tenant_zone
from plugins_core.models import Installation, InvocationStatus
from tenants.models import Role
from tenants.permissions import IsTenantMember, role_required

__all__ = ["JobListView", "JobRunDetailView", "JobRunListView", "RunNowView"]

LAST_RUNS = 5


class JobRunSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="name")
    status = serializers.CharField(source="invocation.status")
    # null until the run has finished (and the memory peak when the sandbox measured none)
    finished_at = serializers.DateTimeField(source="invocation.finished_at", allow_null=True)
    duration_ms = serializers.FloatField(source="invocation.duration_ms", allow_null=True)
    peak_memory_kb = serializers.IntegerField(source="invocation.peak_memory_kb", allow_null=True)
    attempts = serializers.IntegerField(source="invocation.attempts")
    result = serializers.JSONField(source="invocation.result", allow_null=True)
    error = serializers.CharField(source="invocation.error")
    logs = serializers.JSONField(source="invocation.logs")
    invocation_id = serializers.IntegerField()

    class Meta:
        model = JobRun
        fields = ["id", "kind", "job", "trigger", "slot", "status", "queued_at", "started_at", "finished_at",
                  "duration_ms", "peak_memory_kb", "attempts", "result", "error", "logs", "invocation_id"]


class RunSummarySerializer(JobRunSerializer):
    class Meta(JobRunSerializer.Meta):
        fields = ["id", "trigger", "slot", "status", "queued_at", "started_at", "finished_at", "duration_ms", "error"]


class JobSerializer(serializers.Serializer):
    name = serializers.CharField()
    schedule = serializers.CharField(help_text="The cron expression in force (the declared one, or as changed).")
    declared_schedule = serializers.CharField(help_text="The cron expression the manifest or code declares.")
    handler = serializers.CharField()
    timezone = serializers.CharField(help_text="The tenant's time zone, which the schedule is read in.")
    enabled = serializers.BooleanField(help_text="Scheduled: the plugin is enabled and the job not paused.")
    paused = serializers.BooleanField()
    next_run = serializers.DateTimeField(allow_null=True, help_text="null when the job is not scheduled.")
    last_runs = RunSummarySerializer(many=True, help_text=f"The last {LAST_RUNS} runs, newest first.")


class TaskSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(["cron", "once"])
    task_name = serializers.CharField(allow_null=True)
    handler = serializers.CharField()
    cron = serializers.CharField(allow_null=True)
    timezone = serializers.CharField()
    run_at = serializers.DateTimeField(allow_null=True)
    next_run = serializers.DateTimeField(allow_null=True)
    kwargs = serializers.JSONField()
    status = serializers.CharField()
    last_runs = RunSummarySerializer(many=True)


class JobListSerializer(serializers.Serializer):
    plugin = serializers.CharField(help_text="The plugin's slug.")
    enabled = serializers.BooleanField()
    timezone = serializers.CharField()
    jobs = JobSerializer(many=True, help_text="The jobs the version declares.")
    tasks = TaskSerializer(many=True, help_text="The tasks the plugin's code scheduled (ctx.scheduler), still active.")


class RunQueuedSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    job = serializers.CharField()
    trigger = serializers.ChoiceField(Trigger.choices)
    status = serializers.ChoiceField([InvocationStatus.PENDING])
    url = serializers.CharField(help_text="Where to read the run: GET it until its status is final.")


def _installation(request, pk: int) -> Installation:
    return get_object_or_404(
        Installation.objects.for_tenant(request.tenant).select_related("tenant", "plugin", "version"), pk=pk
    )


def _runs(request, installation: Installation):
    return (
        JobRun.objects.for_tenant(request.tenant)
        .filter(installation=installation)
        .select_related("invocation")
    )


def _last_runs(request, installation: Installation, kind: str, name: str) -> list[dict]:
    rows = _runs(request, installation).filter(kind=kind, name=name)[:LAST_RUNS]
    return RunSummarySerializer(rows, many=True).data


class JobListView(APIView):
    permission_classes = [IsTenantMember]

    @extend_schema(
        responses=JobListSerializer,
        summary="The plugin's jobs and scheduler tasks, with next run (tenant's time zone) and last runs",
        description="The jobs the installed version declares and the tasks its code scheduled, each with its "
                    "schedule, its next run in the tenant's time zone and its last runs.",
    )
    def get(self, request, pk: int):
        installation = _installation(request, pk)
        zone = tenant_zone(installation.tenant)
        schedules = {
            task.name: task
            for task in ScheduledTask.objects.for_tenant(request.tenant).filter(installation=installation, kind=ScheduleKind.JOB)
        }
        jobs = []
        for spec in declared_jobs(installation.version):
            task = schedules.get(spec.name)
            cron = task.cron if task else spec.schedule
            try:
                upcoming = next_run(parse_cron(cron), zone).isoformat()
            except CronError:
                upcoming = None
            paused = bool(task and task.paused)
            active = installation.enabled and not paused and task is not None
            jobs.append({
                "name": spec.name,
                "schedule": cron,
                "declared_schedule": spec.schedule,
                "handler": spec.handler,
                "timezone": zone.key,
                "enabled": active,
                "paused": paused,
                "next_run": upcoming if active else None,
                "last_runs": _last_runs(request, installation, RunKind.JOB, spec.name),
            })
        tasks = []
        for task in (ScheduledTask.objects.for_tenant(request.tenant)
                     .filter(installation=installation, kind__in=[ScheduleKind.CRON, ScheduleKind.ONCE],
                             status=ScheduleStatus.ACTIVE).select_related("installation__tenant")):
            tasks.append({**describe(task, zone), "last_runs": _last_runs(request, installation, RunKind.TASK, task.name)})
        return Response({"plugin": installation.plugin.slug, "enabled": installation.enabled, "timezone": zone.key,
                         "jobs": jobs, "tasks": tasks})


class RunNowView(APIView):
    permission_classes = [role_required(Role.ADMIN)]

    @extend_schema(
        request=None,
        responses={202: RunQueuedSerializer,
                   404: OpenApiResponse(description="No such plugin, or the plugin has no job of that name."),
                   409: OpenApiResponse(description="The plugin is disabled; enable it first.")},
        summary="Queue a run of a job now",
        description="Queues one run of the job `name` outside its schedule and answers at once with the run's "
                    "URL; the run's status, result and logs are read there.",
    )
    def post(self, request, pk: int, name: str):
        installation = _installation(request, pk)
        run = runs.queue_run_now(installation, name, user=request.user)
        return Response(
            {"run_id": run.pk, "job": name, "trigger": Trigger.RUN_NOW, "status": InvocationStatus.PENDING,
             "url": f"/api/plugins/{installation.pk}/job-runs/{run.pk}"},
            status=status.HTTP_202_ACCEPTED,
        )


class JobRunListView(APIView):
    pagination_class = LimitOffsetPagination  # read by the schema: a paged `results` list
    permission_classes = [role_required(Role.DEVELOPER)]
    FILTERS = {"job": "name", "kind": "kind", "trigger": "trigger", "status": "invocation__status"}
    CHOICES = {"kind": RunKind.values, "trigger": Trigger.values, "status": InvocationStatus.values}

    @extend_schema(
        parameters=[OpenApiParameter("job", str, required=False, description="The job's or task's name."),
                    OpenApiParameter("kind", str, required=False, description="One of " + ", ".join(RunKind.values) + "."),
                    OpenApiParameter("trigger", str, required=False, description="One of " + ", ".join(Trigger.values) + "."),
                    OpenApiParameter("status", str, required=False,
                                     description="One of " + ", ".join(InvocationStatus.values) + ".")],
        responses=JobRunSerializer(many=True),
        summary="The plugin's job and task runs, newest first",
        description="Every run of the installation's jobs and scheduled tasks, newest first, paginated with "
                    "`limit` and `offset`.",
    )
    def get(self, request, pk: int):
        installation = _installation(request, pk)
        rows = _runs(request, installation)
        rows = filter_by_query(rows, request.query_params, self.FILTERS, self.CHOICES)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(JobRunSerializer(page, many=True).data)


class JobRunDetailView(APIView):
    permission_classes = [role_required(Role.DEVELOPER)]

    @extend_schema(responses=JobRunSerializer, summary="One run: status, duration, result, logs, error",
                   description="One run of a job or task: the URL run-now answers with. Poll it until `status` "
                               "is final (not pending or running).")
    def get(self, request, pk: int, run_id: int):
        installation = _installation(request, pk)
        run = get_object_or_404(_runs(request, installation), pk=run_id)
        return Response(JobRunSerializer(run).data)
