"""Event endpoints: the event catalog, a test event run synchronously, and the tenant's activity.

The activity views — one event with every handler's outcome, the tenant's invocation log,
one plugin's invocation log — share one set of filters and one serializer. Tenancy is the
query layer's (``for_tenant``): another tenant's event or installation is not found (404).
"""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from config.query_filters import filter_by_query
from plugins_core.events import dispatch
from plugins_core.events.catalog import all_events, get_event
from plugins_core.events.emit import EventError, validate_payload
from plugins_core.events.models import Event
from plugins_core.models import Installation, Invocation, InvocationStatus
from tenants.models import Role
from tenants.permissions import role_required

__all__ = ["EventCatalogView", "EventDetailView", "EventListView", "InvocationListView", "TenantInvocationListView",
           "TestEventView"]


class JSONBodyParser(JSONParser):
    """JSON sent without a JSON content type, as the SBH guide's curl does (``curl -d '{...}'``)."""

    media_type = "application/x-www-form-urlencoded"


class TestEventSerializer(serializers.Serializer):
    event_type = serializers.CharField(max_length=200, help_text="An event of the catalog (GET /api/events/catalog).")
    event_data = serializers.JSONField(
        required=False,
        help_text="The payload, validated against the event's schema. Omitted: the catalog's example for the event.")
    installation = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1,
        help_text="Run only this installation's handlers (its id, as /api/plugins/<id>/… takes). "
                  "Omitted: every enabled installation of the tenant that handles the event.")


class EmittedEventSerializer(serializers.Serializer):
    event_type = serializers.CharField()
    payload = serializers.JSONField()
    source = serializers.ChoiceField(["ctx.emit", "host"], help_text=(
        "ctx.emit: the plugin raised it; host: a host resource raised it for the plugin's call (files.uploaded)."))


class TestEventHandlerSerializer(serializers.Serializer):
    plugin = serializers.CharField()
    installation = serializers.IntegerField()
    handler = serializers.CharField()
    invocation = serializers.IntegerField(help_text="The invocation recorded for this run, in the plugin's log.")
    status = serializers.CharField()
    duration_ms = serializers.IntegerField(allow_null=True)
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    logs = serializers.ListField(child=serializers.CharField())
    emitted = EmittedEventSerializer(many=True, help_text=(
        "The events this handler raised, in order. Reported only: none was stored or dispatched."))


class TestEventResultSerializer(serializers.Serializer):
    event_type = serializers.CharField()
    event_data = serializers.JSONField(help_text="The payload the handlers received (the catalog's example when "
                                                 "none was sent).")
    handlers = TestEventHandlerSerializer(many=True, help_text="Each handler run, in the dispatcher's order.")


class CatalogEventSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(["action", "filter"], help_text=(
        "action: dispatched to every subscribed installation; filter: a chain, each handler returning the value."))
    description = serializers.CharField()
    source = serializers.CharField(help_text="plugyard for the built-in events, else who registered it.")
    payload_schema = serializers.JSONField(help_text="The payload's JSON Schema.")
    example = serializers.JSONField(help_text="A payload valid against the schema; what test-event sends by default.")


class CtxCallSerializer(serializers.Serializer):
    method = serializers.CharField()
    ms = serializers.FloatField()
    ok = serializers.BooleanField()
    error = serializers.CharField(required=False, help_text="Short; only when the call failed.")


class ReportTruncationSerializer(serializers.Serializer):
    result = serializers.BooleanField()
    logs = serializers.BooleanField()


class InvocationReportSerializer(serializers.Serializer):
    """The shape of ``Invocation.report``, for the schema: what the sandbox and host observed."""

    # Not required: a call refused before it ran, or recorded before reports were, has ``{}``.
    ctx_calls = CtxCallSerializer(many=True, required=False, help_text="Each ctx call, in order, with its time.")
    tripwires = serializers.ListField(child=serializers.CharField(), required=False,
                                      help_text="Audit-hook events the jail flagged.")
    rpc_calls = serializers.IntegerField(required=False, help_text="Calls from the jail back to the host.")
    truncated = ReportTruncationSerializer(required=False, help_text="Whether the stored result or logs were cut.")


@extend_schema_field(InvocationReportSerializer)
class ReportField(serializers.JSONField):
    """``Invocation.report`` exactly as stored (``{}`` when nothing ran), documented by its shape.

    Rendered as stored rather than through ``InvocationReportSerializer`` so that a row recorded before a
    key existed, or with a key added later, still reads back whole instead of failing the page.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, **kwargs)


class InvocationSerializer(serializers.ModelSerializer):
    installation = serializers.IntegerField(source="installation_id", read_only=True)
    plugin = serializers.CharField(source="installation.plugin.slug", read_only=True)
    event_type = serializers.CharField(source="event.type", default=None, read_only=True, allow_null=True)
    report = ReportField()

    class Meta:
        model = Invocation
        fields = ["id", "installation", "plugin", "kind", "name", "event", "event_type", "status", "duration_ms",
                  "peak_memory_kb", "logs", "result", "error", "attempts", "created_at", "finished_at", "report"]
        read_only_fields = fields


class EventHandlerSerializer(serializers.ModelSerializer):
    """One handler's outcome for an event."""

    installation = serializers.IntegerField(source="installation_id", read_only=True)
    plugin = serializers.CharField(source="installation.plugin.slug", read_only=True)
    handler = serializers.CharField(source="name", read_only=True)
    report = ReportField()

    class Meta:
        model = Invocation
        fields = ["id", "plugin", "installation", "handler", "kind", "status", "attempts", "result", "error",
                  "duration_ms", "created_at", "finished_at", "report"]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    source_plugin = serializers.CharField(source="source_installation.plugin.slug", default=None, read_only=True,
                                          allow_null=True, help_text="The plugin that raised it; null for the product's.")

    class Meta:
        model = Event
        fields = ["id", "type", "payload", "depth", "source_plugin", "created_at", "dispatched_at"]


class EventDetailSerializer(EventSerializer):
    handlers = EventHandlerSerializer(many=True, read_only=True,
                                      help_text="Every invocation of this event, in the order it was dispatched.")

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "handlers"]


#: The largest id a database integer column holds: a bigger number names no row, and on
#: SQLite it would overflow inside the query (a 500), so it is refused like any other non-id.
_MAX_ID = 2**63 - 1


def _parse_id(value: str, param: str) -> int:
    """``value`` as a row id, or a 400 naming ``param``."""
    if value.isascii() and value.isdigit() and 0 < int(value) <= _MAX_ID:
        return int(value)
    raise ApiError(f"{param} must be a positive integer.",
                   details=[{"field": param, "code": "invalid", "message": "Not a positive integer."}])


def _parse_since(value: str) -> dt.datetime:
    try:
        moment = parse_datetime(value)
    except ValueError:  # well-formed but impossible, such as month 13
        moment = None
    if moment is None:
        raise ApiError("since must be an ISO 8601 date-time.",
                       details=[{"field": "since", "code": "invalid", "message": "not a date-time"}])
    return moment


#: The filters every invocation list takes: query parameter -> field, and the closed sets.
INVOCATION_FILTERS = {"kind": "kind", "status": "status", "name": "name", "event_type": "event__type"}
INVOCATION_CHOICES = {"kind": [kind for kind, _ in Invocation.KIND_CHOICES], "status": InvocationStatus.values}
_PARAMETER_DOCS = {
    "kind": "One of " + ", ".join(INVOCATION_CHOICES["kind"]) + ".",
    "status": "One of " + ", ".join(INVOCATION_CHOICES["status"]) + ".",
    "name": "The handler, route, job or hook name.",
    "event_type": "The type of the event that caused the call.",
    "since": "Only calls created at or after this ISO 8601 date-time.",
    "after": "A cursor: only calls with a greater id, oldest first (poll with the last id seen to follow the log).",
    "plugin": "The plugin's slug.",
    "installation": "The installation's id (what /api/plugins/<id>/… takes).",
}


def _parameters(names: Iterable[str]) -> list[OpenApiParameter]:
    return [OpenApiParameter(name, str, required=False, description=_PARAMETER_DOCS[name]) for name in names]


def _invocation_page(view: APIView, request: Request, records: QuerySet, lookups: Mapping[str, str]) -> Response:
    """``records`` narrowed by the query's filters, newest first, one page of them."""
    records = filter_by_query(records, request.query_params, lookups, INVOCATION_CHOICES)
    since = request.query_params.get("since")
    if since:
        records = records.filter(created_at__gte=_parse_since(since))
    after = request.query_params.get("after")
    if after is not None:
        # A feed: ids only grow, so "after the last id seen", in order, never skips a row.
        cursor = 0 if after == "0" else _parse_id(after, "after")
        records = records.filter(id__gt=cursor).select_related("installation__plugin", "event").order_by("id")
    else:
        records = records.select_related("installation__plugin", "event").order_by("-created_at", "-id")
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(records, request, view=view)
    return paginator.get_paginated_response(InvocationSerializer(page, many=True).data)


def outcome(trial: dispatch.Trial) -> dict:
    record = trial.record
    return {
        "plugin": record.installation.plugin.slug,
        "installation": record.installation_id,
        "handler": record.name,
        "invocation": record.pk,
        "status": record.status,
        "duration_ms": record.duration_ms,
        "result": record.result,
        "error": record.error or None,
        "logs": record.logs,
        "emitted": trial.emitted,
    }


def _field_error(field: str, code: str, message: str) -> ApiError:
    return ApiError(message, code=code, details=[{"field": field, "code": code, "message": message}])


def _named_installation(tenant, pk: int, event_type: str) -> Installation:
    """The tenant's installation ``pk``, able to handle ``event_type``; else 400 naming the field.

    Another tenant's installation and an id nobody has get the same answer, so the request
    tells nothing about what other tenants have.
    """
    installation = Installation.objects.for_tenant(tenant).select_related("plugin").filter(pk=pk).first()
    if installation is None:
        raise _field_error("installation", "unknown_installation", f"This tenant has no installation with the id {pk}.")
    if not installation.enabled:
        raise _field_error("installation", "disabled", f"{installation.plugin.slug} is disabled; enable it to try it.")
    if not any(h.installation.pk == pk for h in dispatch.handlers(tenant, event_type, dispatch.SendMode.ROBUST)):
        raise _field_error("installation", "no_handler", f"{installation.plugin.slug} has no hook for {event_type!r}.")
    return installation


class TestEventView(APIView):
    """Try an event's handlers now, for the caller's tenant, and answer each outcome.

    Nothing is stored as an event and nothing is queued: the events the handlers raise are
    reported with each handler (``emitted``), never stored or dispatched to other plugins.
    Each handler's run is still recorded in its plugin's invocation log (with no event).
    """

    permission_classes = [role_required(Role.DEVELOPER)]
    parser_classes = [JSONParser, JSONBodyParser]

    @extend_schema(
        request=TestEventSerializer, responses=TestEventResultSerializer,
        summary="Try an event's handlers now, storing no event",
        description="Runs the handlers of every enabled installation of the tenant for `event_type` (or only "
                    "those of `installation`) with `event_data` (or the catalog's example payload), in the "
                    "dispatcher's order, and answers each outcome. Events the handlers raise are reported in "
                    "`emitted`: none is stored as an event or dispatched. Each run is recorded in the "
                    "plugin's invocation log. An `installation` that is not the tenant's (another tenant's is "
                    "answered the same), is disabled or has no hook for the event is 400.",
    )
    def post(self, request):
        serializer = TestEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event_type = serializer.validated_data["event_type"]
        spec = get_event(event_type)
        if "event_data" in serializer.validated_data:
            event_data = serializer.validated_data["event_data"]
        else:
            event_data = copy.deepcopy(spec.example) if spec is not None else {}
        try:
            validate_payload(event_type, event_data)
        except EventError as exc:
            raise _field_error(exc.field, exc.code, exc.message) from None
        installation = None
        if "installation" in serializer.validated_data:
            installation = _named_installation(request.tenant, serializer.validated_data["installation"], event_type)
        trials = dispatch.send_robust(request.tenant, event_type, event_data, user=request.user,
                                      installation=installation)
        return Response({"event_type": event_type, "event_data": event_data,
                         "handlers": [outcome(trial) for trial in trials]})


class EventCatalogView(APIView):
    """Every event plugins may subscribe to: its kind, description, payload schema and an example."""

    permission_classes = [role_required(Role.MEMBER)]

    @extend_schema(responses=CatalogEventSerializer(many=True), summary="The event catalog",
                   description="Every event of this server's catalog, by name: the built-in events and those the "
                               "host product registered. `example` is valid against `payload_schema`, and is "
                               "what test-event sends when it is given no `event_data`.")
    def get(self, request):
        events = [{"name": spec.name, "kind": spec.kind, "description": spec.description, "source": spec.source,
                   "payload_schema": spec.payload_schema, "example": spec.example} for spec in all_events()]
        return Response(CatalogEventSerializer(events, many=True).data)


class InvocationListView(APIView):
    """One installation's invocation log, newest first."""

    pagination_class = LimitOffsetPagination  # read by the schema: a paged `results` list
    permission_classes = [role_required(Role.DEVELOPER)]

    @extend_schema(
        parameters=_parameters(["kind", "status", "name", "event_type", "since", "after"]),
        responses=InvocationSerializer(many=True),
        summary="A plugin's invocation log, newest first",
        description="Every call of the installation's code (hooks, filters, routes, jobs, tasks, lifecycle), "
                    "newest first, with its status, timings, result, error, logs and attempts, paginated "
                    "with `limit` and `offset`. The filters narrow it; an unknown `kind` or `status` is 400.",
    )
    def get(self, request, pk: int):
        installation = get_object_or_404(Installation.objects.for_tenant(request.tenant), pk=pk)
        records = Invocation.objects.for_tenant(request.tenant).filter(installation=installation)
        return _invocation_page(self, request, records, INVOCATION_FILTERS)


class TenantInvocationListView(APIView):
    """Every invocation of the tenant's plugins, newest first."""

    pagination_class = LimitOffsetPagination  # read by the schema: a paged `results` list
    permission_classes = [role_required(Role.DEVELOPER)]
    FILTERS = {**INVOCATION_FILTERS, "plugin": "installation__plugin__slug", "installation": "installation_id"}

    @extend_schema(
        parameters=_parameters(["kind", "status", "name", "event_type", "since", "after", "plugin", "installation"]),
        responses=InvocationSerializer(many=True),
        summary="The tenant's invocation log across its plugins, newest first",
        description="Every call of every installed plugin's code in the tenant, newest first, paginated with "
                    "`limit` and `offset`; narrow it by plugin, installation, kind, status, name, event type "
                    "or time.",
    )
    def get(self, request):
        installation = request.query_params.get("installation")
        if installation:
            _parse_id(installation, "installation")
        records = Invocation.objects.for_tenant(request.tenant)
        return _invocation_page(self, request, records, self.FILTERS)


class EventListView(APIView):
    """The tenant's events, newest first: the product's and those plugins raised."""

    pagination_class = LimitOffsetPagination  # read by the schema: a paged `results` list
    permission_classes = [role_required(Role.DEVELOPER)]

    @extend_schema(
        parameters=[OpenApiParameter("type", str, required=False, description="Only events of this type.")],
        responses=EventSerializer(many=True), summary="The tenant's events, newest first",
        description="The events raised in the tenant, by the product and by its plugins (`source_plugin`), "
                    "newest first, paginated with `limit` and `offset`.",
    )
    def get(self, request):
        events = Event.objects.for_tenant(request.tenant).select_related("source_installation__plugin")
        events = filter_by_query(events, request.query_params, {"type": "type"})
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(EventSerializer(page, many=True).data)


class EventDetailView(APIView):
    """One of the tenant's events with every handler's outcome, in the order they were dispatched.

    Dispatch records a pending row per handler in its order (priority, then slug) before
    any runs, so the rows' ids are that order.
    """

    permission_classes = [role_required(Role.DEVELOPER)]

    @extend_schema(
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The event's id.")],
        responses=EventDetailSerializer,
        summary="One event and every handler's outcome",
        description="One of the tenant's events with `handlers`: every invocation it caused, in the order "
                    "they were dispatched, each with its status, result and error.",
    )
    def get(self, request, pk: str):
        handlers = (Invocation.objects.for_tenant(request.tenant)
                    .select_related("installation__plugin").order_by("id"))
        events = (Event.objects.for_tenant(request.tenant).select_related("source_installation__plugin")
                  .prefetch_related(Prefetch("invocations", queryset=handlers, to_attr="handlers")))
        event = get_object_or_404(events, pk=_parse_id(pk, "id"))
        return Response(EventDetailSerializer(event).data)
