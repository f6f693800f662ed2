"""The plugin API: upload, list, detail, enable, disable, uninstall, secrets, config, submit,
and ``GET /api/me`` (whom a token speaks for: what ``plugyard publish`` asks first).

The marketplace listing (``listing`` in the detail, and ``submit``) comes from whichever
app answers ``plugins_core.signals.listing_state`` / ``review_requested``: plugins_core
does not know the marketplace.
"""
from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from plugins_core import secrets, services, signals
from plugins_core.models import Installation
from plugins_core.packages import package_limits
from plugins_core.serializers import (
    ConfigPatchSerializer,
    InstallationConfigSerializer,
    InstallationDetailSerializer,
    InstallationSerializer,
    SecretNamesSerializer,
    SecretValueSerializer,
    UploadResultSerializer,
    UploadSerializer,
)
from tenants.auth import TokenOnlyAuthentication
from tenants.models import Membership, Role
from tenants.permissions import IsTenantMember, role_required
from tenants.scoping import TenantScopedViewMixin

__all__ = [
    "InstallationConfigView",
    "InstallationDetailView",
    "InstallationDisableView",
    "InstallationEnableView",
    "InstallationListView",
    "InstallationSecretView",
    "InstallationSubmitView",
    "MeView",
    "UploadView",
]


class InstallationScoped(TenantScopedViewMixin, APIView):
    """Base for views on one of the request tenant's installations."""

    scoped_model = Installation

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("plugin", "version", "tenant")
            .prefetch_related("secrets")
        )

    def get_installation(self, pk: int) -> Installation:
        return get_object_or_404(self.get_queryset(), pk=pk)

    def respond(self, installation: Installation, code: int = status.HTTP_200_OK) -> Response:
        installation = self.get_installation(installation.pk)
        return Response(InstallationSerializer(installation).data, status=code)


class MeView(APIView):
    """Whom the token speaks for; the one call that needs no ``X-Tenant-Slug``."""

    authentication_classes = [TokenOnlyAuthentication]
    permission_classes = [IsTenantMember]

    @extend_schema(
        responses=inline_serializer("Me", {
            "user": inline_serializer("MeUser", {
                "id": serializers.IntegerField(), "username": serializers.CharField(),
                "email": serializers.EmailField(),
            }),
            "tenant": serializers.CharField(help_text="The slug of the tenant the token belongs to: send it as X-Tenant-Slug."),
            "role": serializers.ChoiceField(choices=Role.choices, help_text="The token's role in that tenant."),
            "tenants": serializers.ListField(child=serializers.CharField(), help_text="Every tenant the token's user belongs to."),
        }),
        summary="The token's user, tenant and role (X-Tenant-Slug optional here)",
        description="Answers for the bearer token alone, so a client (`plugyard publish`) can find the "
                    "X-Tenant-Slug every other call needs. When the header is sent, it must name the token's tenant.",
    )
    def get(self, request):
        membership = request.membership
        user = membership.user
        tenants = Membership.objects.filter(user=user).values_list("tenant__slug", flat=True).order_by("tenant__slug")
        return Response({
            "user": {"id": user.pk, "username": user.get_username(), "email": user.email},
            "tenant": membership.tenant.slug, "role": membership.role, "tenants": list(tenants),
        })


class InstallationListView(InstallationScoped):
    permission_classes = [IsTenantMember]

    @extend_schema(
        responses=InstallationSerializer(many=True), summary="The tenant's installed plugins",
        description="Every plugin installed for the tenant, enabled or not, with its version, permissions, "
                    "events, routes, jobs, config and the names of its secrets. Each item's `id` is what "
                    "`/api/plugins/{id}/…` takes.",
    )
    def get(self, request):
        installations = self.get_queryset()
        return Response(InstallationSerializer(installations, many=True).data)


class UploadView(InstallationScoped):
    permission_classes = [role_required(Role.DEVELOPER)]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={
            201: UploadResultSerializer,
            400: OpenApiResponse(description="The package is invalid: `error.details` lists every problem of "
                                             "the manifest and code, each with its field path and code."),
            409: OpenApiResponse(description="This version of the plugin is already installed; bump the version."),
            413: OpenApiResponse(description="The package is over the server's size limit."),
        },
        summary="Upload a plugin package and install it for the tenant",
        description="Send the package (a .zip or .tar.gz with `plugin.json` or `plugin.yaml` and its code) as "
                    "the multipart field `file`. It is validated (manifest shape and rules, code checks), "
                    "stored and installed for the tenant, switched off: an admin enables it with "
                    "`POST /api/plugins/{id}/enable`. Uploading a new version of an installed plugin upgrades "
                    "that installation (`upgraded_from`). The answer's `warnings` are what the validator "
                    "flagged without refusing.",
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError(
                "Send the package as the multipart field 'file'.",
                details=[{"field": "file", "code": "required", "message": "This field is required."}],
            )
        limit = package_limits().max_compressed_bytes
        if upload.size > limit:
            raise ApiError(
                f"The package is {upload.size} bytes; the limit is {limit}.",
                code="archive_too_large",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                details=[{"field": "file", "code": "archive_too_large", "message": f"At most {limit} bytes."}],
            )
        data = upload.read()
        result = services.upload_package(request.tenant, request.user, data, upload.name or "")
        body = InstallationSerializer(self.get_installation(result.installation.pk)).data
        body["warnings"] = result.warnings
        body["upgraded_from"] = result.upgraded_from
        return Response(body, status=status.HTTP_201_CREATED)


class InstallationDetailView(InstallationScoped):
    def get_permissions(self):
        if self.request.method == "DELETE":
            return [role_required(Role.ADMIN)()]
        return [IsTenantMember()]

    @extend_schema(
        responses=InstallationDetailSerializer, summary="One installed plugin (with its listing, to its publisher)",
        description="The installation `id` of this tenant, as the list shows it, plus `listing`: the "
                    "plugin's marketplace review state when this tenant publishes the plugin.",
    )
    def get(self, request, pk: int):
        installation = self.get_installation(pk)
        return Response({**InstallationSerializer(installation).data, "listing": _listing(installation)})

    @extend_schema(
        responses={204: None}, summary="Uninstall: remove the installation, its config and secrets",
        description="Removes the installation with its config, secrets and schedules; its invocation log "
                    "goes with it. The plugin's other tenants are not affected.",
    )
    def delete(self, request, pk: int):
        services.uninstall(self.get_installation(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _listing(installation: Installation) -> dict | None:
    """The plugin's marketplace listing (status, reason, reviewed_at…), for its publisher only:
    staff's reasons are between them and the publisher, not every tenant that installed it."""
    if installation.plugin.publisher_id != installation.tenant_id:
        return None
    return signals.first_answer(signals.listing_state, plugin=installation.plugin)


class InstallationSubmitView(InstallationScoped):
    permission_classes = [role_required(Role.ADMIN)]

    @extend_schema(
        request=None,
        responses={
            200: InstallationDetailSerializer,
            400: OpenApiResponse(description="Not the tenant's own plugin, or that version is already approved "
                                             "or pending."),
            501: OpenApiResponse(description="No marketplace runs on this server."),
        },
        summary="Submit the installation's version of the tenant's own plugin for marketplace review",
        description="Asks the marketplace's staff to review the installed version of a plugin this tenant "
                    "publishes. The answer's `listing` shows the pending review.",
    )
    def post(self, request, pk: int):
        installation = self.get_installation(pk)
        plugin = installation.plugin
        if plugin.publisher_id != request.tenant.pk:
            raise ApiError(
                f"{plugin.slug} is published by another tenant; only its publisher can submit it for review.",
                code="not_publisher",
            )
        with transaction.atomic():
            listing = signals.first_answer(
                signals.review_requested, plugin=plugin, version=installation.version, user=request.user
            )
        if listing is None:
            raise ApiError("No marketplace reviews listings on this server.", code="no_marketplace",
                           status_code=status.HTTP_501_NOT_IMPLEMENTED)
        return Response({**InstallationSerializer(installation).data, "listing": listing})


class InstallationEnableView(InstallationScoped):
    permission_classes = [role_required(Role.ADMIN)]

    @extend_schema(
        request=None, responses=InstallationSerializer, summary="Enable, granting the permissions the version requests",
        description="Switches the plugin on for the tenant: its hooks receive events, its routes answer under "
                    "`/ext/{slug}/…` and its jobs are scheduled. Enabling grants the permissions and domains "
                    "the version asks for, approving any `pending_changes`.",
    )
    def post(self, request, pk: int):
        with transaction.atomic():
            installation = services.enable(self.get_installation(pk))
        return self.respond(installation)


class InstallationDisableView(InstallationScoped):
    permission_classes = [role_required(Role.ADMIN)]

    @extend_schema(
        request=None, responses=InstallationSerializer, summary="Disable",
        description="Switches the plugin off for the tenant: no events, routes or job runs reach it until "
                    "it is enabled again. Config and secrets are kept.",
    )
    def post(self, request, pk: int):
        with transaction.atomic():
            installation = services.disable(self.get_installation(pk))
        return self.respond(installation)


class InstallationSecretView(InstallationScoped):
    permission_classes = [role_required(Role.ADMIN)]
    parser_classes = [JSONParser]

    @extend_schema(
        request=SecretValueSerializer, responses={204: None}, summary="Set a secret (the value is never returned)",
        description="Stores `value` encrypted under `name` (letters, digits and underscores) for the plugin to "
                    "read with `ctx.secrets`. Setting an existing name replaces its value. No answer ever "
                    "includes a secret's value.",
    )
    def put(self, request, pk: int, name: str):
        installation = self.get_installation(pk)
        SecretValueSerializer.validate_name(name)
        serializer = SecretValueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secrets.set_secret(installation, name, serializer.validated_data["value"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None}, summary="Delete a secret",
                   description="Removes the secret `name` from the installation; 404 when none is set.")
    def delete(self, request, pk: int, name: str):
        installation = self.get_installation(pk)
        if not secrets.delete_secret(installation, name):
            raise ApiError(f"No secret named {name!r}.", code="not_found", status_code=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InstallationSecretListView(InstallationScoped):
    permission_classes = [IsTenantMember]

    @extend_schema(responses=SecretNamesSerializer, summary="Names of the secrets set",
                   description="The names of the installation's secrets; their values are never returned.")
    def get(self, request, pk: int):
        installation = self.get_installation(pk)
        return Response({"secrets": [secret.name for secret in installation.secrets.all()]})


class InstallationConfigView(InstallationScoped):
    parser_classes = [JSONParser]

    def get_permissions(self):
        if self.request.method == "PATCH":
            return [role_required(Role.ADMIN)()]
        return [IsTenantMember()]

    @extend_schema(responses=InstallationConfigSerializer, summary="The installation's config",
                   description="The installation's config and the JSON Schema (from the plugin's manifest) it "
                               "is validated against.")
    def get(self, request, pk: int):
        installation = self.get_installation(pk)
        return Response({"config": installation.config, "config_schema": installation.version.config_schema})

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses=InstallationConfigSerializer,
        summary="Change config keys (validated against config_schema)",
        description="A JSON merge patch: each key sent is set, a key sent as null is removed, others are kept. "
                    "The resulting config must validate against `config_schema`, or nothing changes and the "
                    "answer is 400 naming each invalid key.",
    )
    def patch(self, request, pk: int):
        serializer = ConfigPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            installation = services.update_config(self.get_installation(pk), serializer.validated_data)
        return Response({"config": installation.config, "config_schema": installation.version.config_schema})
