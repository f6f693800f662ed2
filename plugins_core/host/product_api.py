"""Product endpoints that raise events: tenant files (``files.*``) and an inbound webhook
receiver (``webhook.received``). They stand in for what a host product has of its own.
"""
from __future__ import annotations

import base64
import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from plugins_core.host import files
from plugins_core.host.errors import HostCallError
from plugins_core.host.events import emit_event
from tenants.models import Role
from tenants.permissions import IsTenantMember, role_required

__all__ = ["FileDetailView", "FileListView", "InboundWebhookView"]

MAX_WEBHOOK_BYTES = 1024 * 1024
FORWARDED_HEADERS = {"content-type", "user-agent", "x-signature", "x-hub-signature-256", "webhook-id",
                     "webhook-signature", "webhook-timestamp", "x-github-event", "x-request-id"}


def _refused(exc: HostCallError, field: str) -> ApiError:
    return ApiError(str(exc), code=getattr(exc, "code", "invalid"), details=[{"field": field, "code": getattr(exc, "code", "invalid"), "message": str(exc)}])


class FileUploadSerializer(serializers.Serializer):
    path = serializers.CharField(max_length=500)
    file = serializers.FileField()


class FileListSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.CharField(), help_text="Paths, sorted.")


class SavedFileSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The normalised path it was saved under.")
    size = serializers.IntegerField(help_text="Bytes.")
    content_type = serializers.CharField(allow_null=True)


class ReceivedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["received"])


class FileListView(APIView):
    parser_classes = [MultiPartParser]

    def get_permissions(self):
        return [role_required(Role.DEVELOPER)()] if self.request.method == "POST" else [IsTenantMember()]

    @extend_schema(
        parameters=[OpenApiParameter("prefix", str, required=False, description="Only paths that start with this.")],
        responses=FileListSerializer, summary="The tenant's files (optionally under ?prefix=)",
        description="The paths of the tenant's files, the ones its plugins read and write with `ctx.files`.",
    )
    def get(self, request):
        try:
            return Response({"files": files.list_files(request.tenant, request.query_params.get("prefix", ""))})
        except HostCallError as exc:
            raise _refused(exc, "prefix") from None

    @extend_schema(
        request={"multipart/form-data": FileUploadSerializer},
        responses={201: SavedFileSerializer}, summary="Upload a file (emits files.uploaded)",
        description="Saves the multipart `file` under `path` in the tenant's files (replacing one there) and "
                    "raises `files.uploaded`. A path outside the tenant's storage, or a file over the size or "
                    "count budget, is 400.",
    )
    def post(self, request):
        serializer = FileUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        try:
            saved = files.upload(
                request.tenant, serializer.validated_data["path"],
                base64_content=base64.b64encode(upload.read()).decode(), content_type=upload.content_type,
            )
        except HostCallError as exc:
            raise _refused(exc, "path") from None
        emit_event(request.tenant, "files.uploaded", {"path": saved["path"], "size": saved["size"],
                                                      "content_type": saved.get("content_type") or ""})
        return Response(saved, status=status.HTTP_201_CREATED)


class FileDetailView(APIView):
    permission_classes = [role_required(Role.DEVELOPER)]

    @extend_schema(responses={204: None}, summary="Delete a file (emits files.deleted)",
                   description="Deletes the tenant's file at `path` and raises `files.deleted`; 404 when there is none.")
    def delete(self, request, path: str):
        try:
            deleted = files.delete(request.tenant, path)
        except HostCallError as exc:
            raise _refused(exc, "path") from None
        if not deleted:
            raise ApiError(f"No file {path!r}.", code="not_found", status_code=status.HTTP_404_NOT_FOUND)
        emit_event(request.tenant, "files.deleted", {"path": files.normalise_path(path)})
        return Response(status=status.HTTP_204_NO_CONTENT)


class InboundWebhookView(APIView):
    """Receive a webhook from an external service and raise ``webhook.received``."""

    permission_classes = [role_required(Role.DEVELOPER)]
    parser_classes: list = []  # the body is passed on as it came

    @extend_schema(
        request={"application/json": OpenApiTypes.ANY, "application/octet-stream": OpenApiTypes.BINARY},
        responses={202: ReceivedSerializer, 413: OpenApiResponse(description="The body is over 1 MB.")},
        summary="Receive a webhook (emits webhook.received)",
        description="Takes a webhook from an outside service as it came (any body up to 1 MB) and raises "
                    "`webhook.received` with `source`, the signature and delivery headers, and the body "
                    "(JSON, text, or base64 when it is neither), for the tenant's plugins to handle.",
    )
    def post(self, request, source: str):
        if len(source) > 64 or not source.replace("-", "").replace("_", "").isalnum():
            raise ApiError("The source must be letters, digits, '-' or '_' (max 64).",
                           details=[{"field": "source", "code": "invalid", "message": "invalid source"}])
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_WEBHOOK_BYTES or len(request.body) > MAX_WEBHOOK_BYTES:
            raise ApiError("The webhook body is over 1 MB.", code="body_too_large", status_code=413)
        raw = request.body
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body = {"base64": base64.b64encode(raw).decode()}
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
        emit_event(request.tenant, "webhook.received", {"source": source, "headers": headers, "body": body})
        return Response({"status": "received"}, status=status.HTTP_202_ACCEPTED)
