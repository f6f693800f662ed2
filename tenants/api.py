"""The tenant's members: list, invite (creating the user if needed), change role, remove.

Adding a member emails them a one-time set-password link (an "invitation"); the rules for
who may grant, change and remove which roles are ``tenants.members``' (see its docstring).
"""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from tenants import members
from tenants.errors import MemberError
from tenants.models import Membership, Role
from tenants.permissions import IsTenantMember, role_required

__all__ = ["MemberDetailView", "MemberInviteView", "MemberListView"]


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    username = serializers.CharField(source="user.username", required=False, max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
    status = serializers.SerializerMethodField(help_text="invited (no password chosen yet) or active")

    class Meta:
        model = Membership
        fields = ["id", "email", "username", "role", "status", "created_at"]
        read_only_fields = ["id", "status", "created_at"]

    def get_status(self, membership: Membership) -> str:
        return "invited" if members.is_pending(membership) else "active"


class InvitedMemberSerializer(MemberSerializer):
    invitation_sent = serializers.BooleanField(read_only=True, help_text="false if the email could not be sent")

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "invitation_sent"]


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


def _members(request):
    return Membership.objects.for_tenant(request.tenant).select_related("user", "tenant")


def _api_error(exc: MemberError) -> ApiError:
    details = [{"field": exc.field, "code": exc.code, "message": exc.message}] if exc.field else []
    return ApiError(exc.message, code=exc.code, status_code=exc.status, details=details)


def _invited(invitation: members.Invitation) -> dict:
    data = MemberSerializer(invitation.membership).data
    return {**data, "invitation_sent": invitation.sent}


class MemberListView(APIView):
    def get_permissions(self):
        return [role_required(Role.ADMIN)()] if self.request.method == "POST" else [IsTenantMember()]

    @extend_schema(responses=MemberSerializer(many=True), summary="The tenant's members",
                   description="Everyone with access to the tenant: email, username, role, and whether they "
                               "have chosen a password yet (`status`).")
    def get(self, request):
        return Response(MemberSerializer(_members(request), many=True).data)

    @extend_schema(
        request=MemberSerializer,
        responses={201: InvitedMemberSerializer,
                   409: OpenApiResponse(description="That person is a member already.")},
        summary="Invite a member: adds them and emails a set-password link (emits auth.user.created)",
        description="Adds the person with `email` to the tenant with `role` (creating their user if there is "
                    "none) and emails them a one-time link to choose a password (someone with a password is "
                    "sent the sign-in page). Nobody grants a role above their own. `invitation_sent` is false when the email could not be sent.",
    )
    def post(self, request):
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            invitation = members.invite(
                request.membership, data["user"]["email"], data["role"], username=data["user"].get("username")
            )
        except MemberError as exc:
            raise _api_error(exc) from None
        return Response(_invited(invitation), status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    def get_permissions(self):
        return [IsTenantMember()] if self.request.method == "GET" else [role_required(Role.ADMIN)()]

    @extend_schema(responses=MemberSerializer, summary="One member",
                   description="One member of the tenant: email, username, role and status.")
    def get(self, request, pk: int):
        return Response(MemberSerializer(get_object_or_404(_members(request), pk=pk)).data)

    @extend_schema(
        request=RoleSerializer, summary="Change a member's role (emits auth.user.updated)",
        description="Sets the member's role. Nobody grants a role above their own; an admin changes only "
                    "members and developers; the last owner cannot step down.",
        responses={200: MemberSerializer, 409: OpenApiResponse(description="The member is the last owner.")},
    )
    def patch(self, request, pk: int):
        membership = get_object_or_404(_members(request), pk=pk)
        serializer = RoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            membership = members.change_role(request.membership, membership, serializer.validated_data["role"])
        except MemberError as exc:
            raise _api_error(exc) from None
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="The member is the last owner.")},
                   summary="Remove a member (emits auth.user.deleted)",
                   description="Takes the member's access to the tenant away. An admin removes only members "
                               "and developers; nobody removes themselves; the last owner cannot be removed.")
    def delete(self, request, pk: int):
        membership = get_object_or_404(_members(request), pk=pk)
        try:
            members.remove(request.membership, membership)
        except MemberError as exc:
            raise _api_error(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberInviteView(APIView):
    permission_classes = [role_required(Role.ADMIN)]

    @extend_schema(
        request=None,
        responses={200: InvitedMemberSerializer,
                   409: OpenApiResponse(description="The member has a password already, or no email address.")},
        summary="Invite again: email a fresh set-password link to a member who has none yet",
        description="Emails a fresh one-time set-password link to a member who has not chosen a password yet "
                    "(`status` invited).",
    )
    def post(self, request, pk: int):
        membership = get_object_or_404(_members(request), pk=pk)
        try:
            invitation = members.invite_again(request.membership, membership)
        except MemberError as exc:
            raise _api_error(exc) from None
        return Response(_invited(invitation))
