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
    finished_at = serializers.DateTimeField(source="invocation.finished_at")
    duration_ms = serializers.FloatField(source="invocation.duration_ms")
    peak_memory_kb = serializers.IntegerField(source="invocation.peak_memory_kb")
    attempts = serializers.IntegerField(source="invocation.attempts")
    result = serializers.JSONField(source="invocation.result")
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
        responses={200: OpenApiResponse(description='{"timezone", "jobs": [{name, schedule, next_run, last_runs, …}], "tasks": […]}')},
        summary="The plugin's jobs and scheduler tasks, with next run (tenant's time zone) and last runs",
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
        responses={202: OpenApiResponse(description='{"run_id", "job", "status": "pending", "url"}'),
                   404: OpenApiResponse(description="No such plugin or job"),
                   409: OpenApiResponse(description="The plugin is disabled")},
        summary="Queue a run of a job now",
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
    permission_classes = [role_required(Role.DEVELOPER)]
    FILTERS = {"job": "name", "kind": "kind", "trigger": "trigger", "status": "invocation__status"}
    CHOICES = {"kind": RunKind.values, "trigger": Trigger.values, "status": InvocationStatus.values}

    @extend_schema(
        parameters=[OpenApiParameter(name, str, required=False) for name in ["job", "kind", "trigger", "status"]],
        responses=JobRunSerializer(many=True),
        summary="The plugin's job and task runs, newest first",
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

    @extend_schema(responses=JobRunSerializer, summary="One run: status, duration, result, logs, error")
    def get(self, request, pk: int, run_id: int):
        installation = _installation(request, pk)
        run = get_object_or_404(_runs(request, installation), pk=run_id)
        return Response(JobRunSerializer(run).data)
