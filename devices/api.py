"""The devices API: ``/api/devices/`` and ``/api/alerts/`` (members read, developers and up write)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from devices import services
from devices.models import Alert, Device
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

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [IsTenantMember()]
        return [role_required(Role.DEVELOPER)()]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.scoped_model.objects.none()
        queryset = super().get_queryset()
        if self.action == "list":
            wanted = {field: self.request.query_params[param] for param, field in self.filters.items()
                      if param in self.request.query_params}
            queryset = queryset.filter(**wanted)
        return queryset


class DeviceViewSet(_TenantViewSet):
    scoped_model = Device
    serializer_class = DeviceSerializer
    filters = {"status": "status", "type": "type", "name": "name"}

    def perform_create(self, serializer):
        with _field_errors():
            serializer.instance = services.create_device(self.request.tenant, dict(serializer.validated_data))

    def perform_update(self, serializer):
        with _field_errors():
            serializer.instance = services.update_device(serializer.instance, dict(serializer.validated_data))

    def perform_destroy(self, instance):
        with _field_errors():
            services.delete_device(instance)


class AlertViewSet(_TenantViewSet):
    scoped_model = Alert
    serializer_class = AlertSerializer
    filters = {"status": "status", "severity": "severity", "device_id": "device_id"}

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

    @extend_schema(request=None, responses=AlertSerializer, summary="Acknowledge an alert")
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._act(services.acknowledge_alert)

    @extend_schema(request=None, responses=AlertSerializer, summary="Resolve an alert")
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._act(services.resolve_alert)
