"""Event endpoints: run a test event synchronously, and browse a plugin's invocation log."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from config.query_filters import filter_by_query
from plugins_core import runner
from plugins_core.events import dispatch
from plugins_core.events.emit import EventError, validate_payload
from plugins_core.events.models import Event, Subscription
from plugins_core.models import Installation, Invocation, InvocationStatus
from tenants.models import Role
from tenants.permissions import role_required

__all__ = ["EventListView", "InvocationListView", "TestEventView"]


class JSONBodyParser(JSONParser):
    """JSON sent without a JSON content type, as the SBH guide's curl does (``curl -d '{...}'``)."""

    media_type = "application/x-www-form-urlencoded"


class TestEventSerializer(serializers.Serializer):
    event_type = serializers.CharField(max_length=200)
    event_data = serializers.JSONField(default=dict)


class InvocationSerializer(serializers.ModelSerializer):
    plugin = serializers.CharField(source="installation.plugin.slug", read_only=True)
    event_type = serializers.CharField(source="event.type", default=None, read_only=True)

    class Meta:
        model = Invocation
        fields = ["id", "plugin", "kind", "name", "event_type", "status", "duration_ms", "peak_memory_kb",
                  "logs", "result", "error", "attempts", "created_at", "finished_at"]


class EventSerializer(serializers.ModelSerializer):
    source_plugin = serializers.CharField(source="source_installation.plugin.slug", default=None, read_only=True)

    class Meta:
        model = Event
        fields = ["id", "type", "payload", "depth", "source_plugin", "created_at", "dispatched_at"]


def outcome(record: Invocation) -> dict:
    return {
        "plugin": record.installation.plugin.slug,
        "handler": record.name,
        "status": record.status,
        "duration_ms": record.duration_ms,
        "result": record.result,
        "error": record.error or None,
        "logs": record.logs,
    }


class TestEventView(APIView):
    """Run an event's handlers now, for the caller's tenant, and answer each outcome.

    Nothing is stored as an event and nothing is queued: this is for trying handlers out.
    Each handler's invocation is still recorded in the log.
    """

    permission_classes = [role_required(Role.DEVELOPER)]
    parser_classes = [JSONParser, JSONBodyParser]

    @extend_schema(request=TestEventSerializer, summary="Run an event's handlers synchronously")
    def post(self, request):
        serializer = TestEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event_type = serializer.validated_data["event_type"]
        event_data = serializer.validated_data["event_data"]
        try:
            validate_payload(event_type, event_data)
        except EventError as exc:
            raise ApiError(exc.message, code=exc.code, details=[{"field": exc.field, "code": exc.code, "message": exc.message}]) from None
        outcomes = []
        for installation in dispatch.subscribed_installations(request.tenant, event_type):
            handlers = Subscription.objects.filter(version_id=installation.version_id, event=event_type, kind="action")
            for subscription in handlers.order_by("-priority", "id"):
                record = runner.invoke(
                    installation, kind="hook", name=event_type, handler=subscription.handler,
                    payload=event_data, user=request.user,
                )
                outcomes.append(outcome(record))
        return Response({"event_type": event_type, "handlers": outcomes})


class InvocationListView(APIView):
    permission_classes = [role_required(Role.DEVELOPER)]
    FILTERS = {"kind": "kind", "status": "status", "name": "name", "event_type": "event__type"}

    @extend_schema(
        parameters=[OpenApiParameter(name, str, required=False) for name in ["kind", "status", "name", "event_type", "since"]],
        responses=InvocationSerializer(many=True),
        summary="A plugin's invocation log, newest first",
    )
    def get(self, request, pk: int):
        installation = get_object_or_404(Installation.objects.for_tenant(request.tenant), pk=pk)
        records = (
            Invocation.objects.for_tenant(request.tenant)
            .filter(installation=installation)
            .select_related("installation__plugin", "event")
        )
        records = filter_by_query(records, request.query_params, self.FILTERS, {"status": InvocationStatus.values})
        since = request.query_params.get("since")
        if since:
            from django.utils.dateparse import parse_datetime

            try:
                moment = parse_datetime(since)
            except ValueError:
                moment = None
            if moment is None:
                raise ApiError("since must be an ISO 8601 date-time.",
                               details=[{"field": "since", "code": "invalid", "message": "not a date-time"}])
            records = records.filter(created_at__gte=moment)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(records, request, view=self)
        return paginator.get_paginated_response(InvocationSerializer(page, many=True).data)


class EventListView(APIView):
    """The tenant's events, newest first: the product's and those plugins raised."""

    permission_classes = [role_required(Role.DEVELOPER)]

    @extend_schema(parameters=[OpenApiParameter("type", str, required=False)], responses=EventSerializer(many=True),
                   summary="The tenant's events, newest first")
    def get(self, request):
        events = Event.objects.for_tenant(request.tenant).select_related("source_installation__plugin")
        event_type = request.query_params.get("type")
        if event_type:
            events = events.filter(type=event_type)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(EventSerializer(page, many=True).data)
