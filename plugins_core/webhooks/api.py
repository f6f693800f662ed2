"""Webhook delivery endpoints: a plugin's delivery log (every attempt) and redelivery."""
from __future__ import annotations

import json

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from config.query_filters import filter_by_query
from plugins_core.models import Installation
from plugins_core.webhooks import delivery as sending
from plugins_core.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tenants.models import Role
from tenants.permissions import role_required

__all__ = ["DeliveryDetailView", "DeliveryListView", "RedeliverView"]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["cycle", "number", "started_at", "duration_ms", "status_code", "error", "response_excerpt"]


class DeliverySerializer(serializers.ModelSerializer):
    plugin = serializers.CharField(source="installation.plugin.slug", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    body = serializers.SerializerMethodField()
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "plugin", "webhook", "event", "event_type", "status", "attempts", "max_attempts", "cycle",
                  "next_attempt_at", "target", "body", "error", "created_at", "finished_at", "attempt_log"]

    @extend_schema_field(OpenApiTypes.ANY)
    def get_body(self, obj: WebhookDelivery) -> object:
        """The JSON sent (null until the first attempt built it)."""
        return None if obj.body is None else json.loads(obj.body)


class _Deliveries(APIView):
    def deliveries(self, request, pk: int):
        installation = get_object_or_404(Installation.objects.for_tenant(request.tenant), pk=pk)
        return (
            WebhookDelivery.objects.for_tenant(request.tenant)
            .filter(installation=installation)
            .select_related("installation__plugin", "installation__version", "event")
            .prefetch_related("attempt_log")
        )


class DeliveryListView(_Deliveries):
    pagination_class = LimitOffsetPagination  # read by the schema: a paged `results` list
    permission_classes = [role_required(Role.DEVELOPER)]
    FILTERS = {"status": "status", "webhook": "webhook", "event_type": "event__type"}

    @extend_schema(
        parameters=[OpenApiParameter("status", str, required=False, description="One of " + ", ".join(DeliveryStatus.values) + "."),
                    OpenApiParameter("webhook", str, required=False, description="The webhook's name in the plugin."),
                    OpenApiParameter("event_type", str, required=False, description="The type of the event delivered.")],
        responses=DeliverySerializer(many=True),
        summary="A plugin's webhook deliveries with their attempts, newest first",
        description="Each delivery of the installation's webhooks, newest first, paginated with `limit` and "
                    "`offset`: its target, body, status and every attempt (status code, duration, excerpt of "
                    "the answer, error).",
    )
    def get(self, request, pk: int):
        records = self.deliveries(request, pk)
        records = filter_by_query(records, request.query_params, self.FILTERS, {"status": DeliveryStatus.values})
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(records, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryDetailView(_Deliveries):
    permission_classes = [role_required(Role.DEVELOPER)]

    @extend_schema(responses=DeliverySerializer, summary="One webhook delivery with its attempts",
                   description="One delivery of the installation's webhooks, with every attempt made.")
    def get(self, request, pk: int, delivery_id: int):
        return Response(DeliverySerializer(get_object_or_404(self.deliveries(request, pk), pk=delivery_id)).data)


class RedeliverView(_Deliveries):
    """Send a delivery again: a new cycle of attempts on the same row, same body and webhook-id."""

    permission_classes = [role_required(Role.ADMIN)]

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer,
                   409: OpenApiResponse(description="An attempt is under way, or the plugin is disabled.")},
        summary="Redeliver a webhook delivery",
        description="Queues a new cycle of attempts of the delivery: the same body and webhook-id, so a "
                    "receiver that deduplicates sees it as the same message. Answers the delivery as queued.",
    )
    def post(self, request, pk: int, delivery_id: int):
        found = get_object_or_404(self.deliveries(request, pk), pk=delivery_id)
        if not found.installation.enabled:
            raise ApiError("The plugin is disabled; enable it to redeliver.", code="plugin_disabled",
                           status_code=status.HTTP_409_CONFLICT)
        try:
            sending.redeliver(found)
        except sending.DeliveryBusy:
            raise ApiError("An attempt at this delivery is under way; try again once it has finished.",
                           code="delivery_busy", status_code=status.HTTP_409_CONFLICT) from None
        fresh = self.deliveries(request, pk).get(pk=delivery_id)
        return Response(DeliverySerializer(fresh).data, status=status.HTTP_202_ACCEPTED)
