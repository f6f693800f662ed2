"""The dev loop's API: push and leave a dev build, and an invocation's recorded input for a replay.

``plugyard dev`` pushes on every save (``POST /api/plugins/<id>/dev``, or
``POST /api/plugins/dev`` before the plugin is installed), ``plugyard replay`` reads
``GET /api/invocations/<id>/replay``. Tenancy is the query layer's: another tenant's
installation or invocation is not found (404). Pushing and leaving need an admin, as
enabling does: a push switches what runs for the whole tenant.
"""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from plugins_core import dev_builds, replays
from plugins_core.api import InstallationScoped
from plugins_core.models import Invocation
from plugins_core.packages import package_limits
from plugins_core.serializers import InstallationSerializer, UploadSerializer
from tenants.models import Role
from tenants.permissions import role_required

__all__ = ["DevBuildView", "NewDevBuildView", "ReplayView"]

_PUSHED = inline_serializer("DevBuild", {
    "installation": InstallationSerializer(),
    "dev_version": serializers.CharField(help_text="The dev build now running: <version>+dev.<n>."),
    "replaced": serializers.CharField(allow_null=True, help_text="The dev build it replaced (deleted), if any."),
    "unchanged": serializers.BooleanField(help_text="The same bytes as the running dev build: nothing changed."),
    "created": serializers.BooleanField(help_text="The push installed the plugin (switched off)."),
    "warnings": serializers.ListField(child=serializers.DictField()),
    "routes": serializers.ListField(child=serializers.DictField(), help_text="path and methods of each route, "
                                    "as the code registered them; served at /ext/<slug><path>."),
})


def _package(request) -> tuple[bytes, str]:
    upload = request.FILES.get("file")
    if upload is None:
        raise ApiError("Send the package as the multipart field 'file'.",
                       details=[{"field": "file", "code": "required", "message": "This field is required."}])
    limit = package_limits().max_compressed_bytes
    if upload.size > limit:
        raise ApiError(f"The package is {upload.size} bytes; the limit is {limit}.", code="archive_too_large",
                       status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                       details=[{"field": "file", "code": "archive_too_large", "message": f"At most {limit} bytes."}])
    return upload.read(), upload.name or ""


class _Pushing(InstallationScoped):
    parser_classes = [MultiPartParser, FormParser]

    def get_permissions(self):
        return [role_required(Role.ADMIN)()]

    def answer(self, result: dev_builds.DevBuildResult) -> Response:
        body = {"installation": InstallationSerializer(self.get_installation(result.installation.pk)).data,
                **dev_builds.describe(result)}
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class NewDevBuildView(_Pushing):
    @extend_schema(
        request={"multipart/form-data": UploadSerializer}, responses={200: _PUSHED, 201: _PUSHED},
        summary="Push a dev build of the tenant's own plugin, by the package's slug",
        operation_id="plugins_dev_push",  # plugins_dev_create is …/{id}/dev's
        description="Checked exactly like an upload. Runs at once for the tenant's installation of the plugin, "
                    "which is created (switched off; 201) when the tenant has none. Never listed in the marketplace.",
    )
    def post(self, request):
        data, name = _package(request)
        return self.answer(dev_builds.push_dev_build(request.tenant, request.user, data, name))


class DevBuildView(_Pushing):
    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={200: _PUSHED, 400: OpenApiResponse(description="Invalid package, another plugin's, or not the publisher")},
        summary="Push a dev build to this installation (no version bump; replaces the previous dev build)",
        description="The package is checked exactly like an upload, stored as `<version>+dev.<n>` and run by the "
                    "installation at once. The previous dev build is deleted. The grant is kept: permissions the "
                    "build asks for beyond it wait for POST …/enable. DELETE returns to the latest released version.",
    )
    def post(self, request, pk: int):
        installation = self.get_installation(pk)
        data, name = _package(request)
        return self.answer(dev_builds.push_dev_build(request.tenant, request.user, data, name, installation))

    @extend_schema(request=None, responses={200: InstallationSerializer, 409: OpenApiResponse(description="No dev build, or no released version")},
                   summary="Leave the dev build: return to the plugin's latest released version",
                   description="Deletes the installation's dev build and switches it back to the plugin's latest "
                               "released version; 409 when it runs no dev build or no version was released.")
    def delete(self, request, pk: int):
        installation = dev_builds.leave_dev_build(self.get_installation(pk))
        return self.respond(installation)


class ReplayView(APIView):
    """One invocation's recorded input, redacted, with its outcome: what ``plugyard replay`` runs again."""

    permission_classes = [role_required(Role.DEVELOPER)]

    @extend_schema(
        responses=inline_serializer("Replay", {
            "invocation": serializers.IntegerField(), "installation": serializers.IntegerField(),
            "plugin": serializers.CharField(), "kind": serializers.CharField(), "name": serializers.CharField(),
            "event_type": serializers.CharField(allow_null=True),
            "input": serializers.JSONField(allow_null=True, help_text="The payload (hooks, filters), the job's or "
                                           "task's arguments; secret and personal values are [redacted]. Null when "
                                           "the call's input is not recorded (routes)."),
            "replayable": serializers.BooleanField(), "reason": serializers.CharField(allow_blank=True),
            "outcome": serializers.DictField(help_text="status, result, error, logs, duration_ms of the recorded call."),
        }),
        summary="An invocation's recorded input (redacted) and outcome, to replay it",
        description="The input one of the tenant's invocations ran with (secret and personal values replaced by "
                    "`[redacted]`) and what it answered, so `plugyard replay` can run it again against local "
                    "code or the dev build. `replayable` is false, with a `reason`, when its input was not "
                    "recorded.",
    )
    def get(self, request, pk: int):
        records = Invocation.objects.for_tenant(request.tenant).select_related("installation__plugin", "event")
        return Response(replays.replay_input(get_object_or_404(records, pk=pk)))
