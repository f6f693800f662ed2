"""The devices API: ``/api/devices/`` and ``/api/alerts/`` (members read, developers and up write)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.query_filters import filter_by_query
from devices import services
from devices.models import Alert, AlertSeverity, AlertStatus, Device, DeviceStatus
from devices.serializers import AlertSerializer, DeviceSerializer
from tenants.models import Role
from tenants.permissions import IsTenantMember, role_required
from tenants.scoping import TenantScopedViewMixin

__all__ = ["AlertViewSet", "DeviceViewSet"]


@contextmanager
def _field_errors() -> Iterator[None]:
    """The domain services' ValidationError as DRF's, so the API answers 400 with the fields.

    No transaction here: each service writes its change and event in one, after running the
    plugins' filters outside it (devices/services.py says why).
    """
    try:
        yield
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None


class _TenantViewSet(TenantScopedViewMixin, viewsets.ModelViewSet):
    #: query parameter -> field, the only filters the list accepts
    filters: dict[str, str] = {}
    #: query parameter -> its closed set of values; and the parameters that are row ids
    choices: dict[str, list[str]] = {}
    id_filters: tuple[str, ...] = ()

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [IsTenantMember()]
        return [role_required(Role.DEVELOPER)()]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.scoped_model.objects.none()
        queryset = super().get_queryset()
        if self.action == "list":
            queryset = filter_by_query(queryset, self.request.query_params, self.filters, self.choices,
                                       ids=self.id_filters)
        return queryset


def _crud(noun: str, raises: dict[str, str], filters: list[OpenApiParameter]) -> dict:
    """The schema of a domain viewset's six operations: what a client reads for each."""
    def event(action: str) -> str:
        return f" Raises {raises[action]}." if action in raises else ""

    return {
        "list": extend_schema(summary=f"The tenant's {noun}s", parameters=filters,
                              description=f"Every {noun} of the tenant; the query parameters narrow the list."),
        "create": extend_schema(summary=f"Add a {noun}", description=f"Adds a {noun} to the tenant.{event('create')}"),
        "retrieve": extend_schema(summary=f"One {noun}", description=f"One {noun} of the tenant."),
        "update": extend_schema(summary=f"Replace a {noun}",
                                description=f"Sets every writable field of the {noun}.{event('update')}"),
        "partial_update": extend_schema(summary=f"Change a {noun}",
                                        description=f"Sets the fields sent.{event('update')}"),
        "destroy": extend_schema(summary=f"Delete a {noun}", description=f"Deletes the {noun}.{event('destroy')}"),
    }


def _filter(name: str, description: str, kind: type = str, enum: list[str] | None = None) -> OpenApiParameter:
    return OpenApiParameter(name, kind, required=False, description=description, enum=enum)


@extend_schema_view(**_crud("device", {
    "create": "`device.created`", "update": "`device.updated`", "destroy": "`device.deleted`"}, [
    _filter("status", "Only devices with this status.", enum=DeviceStatus.values), _filter("type", "Only devices of this type."),
    _filter("name", "Only the device with this name."),
]))
class DeviceViewSet(_TenantViewSet):
    scoped_model = Device
    serializer_class = DeviceSerializer
    filters = {"status": "status", "type": "type", "name": "name"}
    choices = {"status": DeviceStatus.values}

    def perform_create(self, serializer):
        with _field_errors():
            serializer.instance = services.create_device(self.request.tenant, dict(serializer.validated_data))

    def perform_update(self, serializer):
        with _field_errors():
            serializer.instance = services.update_device(serializer.instance, dict(serializer.validated_data))

    def perform_destroy(self, instance):
        with _field_errors():
            services.delete_device(instance)


@extend_schema_view(**_crud("alert", {
    "create": "`alert.created`", "update": "`alert.updated` (`alert.resolved` when it resolves the alert)"}, [
    _filter("status", "Only alerts with this status.", enum=AlertStatus.values),
    _filter("severity", "Only alerts of this severity.", enum=AlertSeverity.values),
    _filter("device_id", "Only the alerts of this device.", int),
]))
class AlertViewSet(_TenantViewSet):
    scoped_model = Alert
    serializer_class = AlertSerializer
    filters = {"status": "status", "severity": "severity", "device_id": "device_id"}
    choices = {"status": AlertStatus.values, "severity": AlertSeverity.values}
    id_filters = ("device_id",)

    def perform_create(self, serializer):
        with _field_errors():
            serializer.instance = services.create_alert(
                self.request.tenant, dict(serializer.validated_data), user=self.request.user
            )

    def perform_update(self, serializer):
        with _field_errors():
            serializer.instance = services.update_alert(
                serializer.instance, dict(serializer.validated_data), user=self.request.user
            )

    def perform_destroy(self, instance):
        services.delete_alert(instance)

    def _act(self, fn) -> Response:
        alert = self.get_object()
        with _field_errors():
            alert = fn(alert, user=self.request.user)
        return Response(AlertSerializer(alert).data)

    @extend_schema(request=None, responses=AlertSerializer, summary="Acknowledge an alert",
                   description="Marks the alert acknowledged by the caller (a resolved alert cannot be); "
                               "raises `alert.updated`.")
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._act(services.acknowledge_alert)

    @extend_schema(request=None, responses=AlertSerializer, summary="Resolve an alert",
                   description="Marks the alert resolved; raises `alert.resolved`.")
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._act(services.resolve_alert)
