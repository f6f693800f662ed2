"""The tenant's members: list, add (creating the user if needed), change role, remove."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from tenants.models import Membership, Role
from tenants.permissions import IsTenantMember, role_required

__all__ = ["MemberDetailView", "MemberListView"]


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    username = serializers.CharField(source="user.username", required=False, max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    class Meta:
        model = Membership
        fields = ["id", "email", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


def _members(request):
    return Membership.objects.for_tenant(request.tenant).select_related("user")


class MemberListView(APIView):
    def get_permissions(self):
        return [role_required(Role.ADMIN)()] if self.request.method == "POST" else [IsTenantMember()]

    @extend_schema(responses=MemberSerializer(many=True), summary="The tenant's members")
    def get(self, request):
        return Response(MemberSerializer(_members(request), many=True).data)

    @extend_schema(request=MemberSerializer, responses={201: MemberSerializer}, summary="Add a member (emits auth.user.created)")
    def post(self, request):
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        email = data["user"]["email"]
        role = data["role"]
        if Role.rank(role) > Role.rank(request.membership.role):
            raise ApiError("You cannot grant a role above your own.", code="permission_denied", status_code=403,
                           details=[{"field": "role", "code": "too_high", "message": "above your own role"}])
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                username = data["user"].get("username") or email
                if User.objects.filter(username=username).exists():
                    raise ApiError("That username is taken.", details=[{"field": "username", "code": "taken", "message": "taken"}])
                user = User(username=username, email=email)
                user.set_unusable_password()
                user.save()
            if Membership.objects.filter(user=user, tenant=request.tenant).exists():
                raise ApiError(f"{email} is a member already.", code="conflict", status_code=409,
                               details=[{"field": "email", "code": "exists", "message": "already a member"}])
            membership = Membership.objects.create(user=user, tenant=request.tenant, role=role)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    def get_permissions(self):
        return [IsTenantMember()] if self.request.method == "GET" else [role_required(Role.ADMIN)()]

    @extend_schema(responses=MemberSerializer)
    def get(self, request, pk: int):
        return Response(MemberSerializer(get_object_or_404(_members(request), pk=pk)).data)

    @extend_schema(request=RoleSerializer, responses=MemberSerializer, summary="Change a member's role (emits auth.user.updated)")
    def patch(self, request, pk: int):
        membership = get_object_or_404(_members(request), pk=pk)
        serializer = RoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = serializer.validated_data["role"]
        if Role.rank(role) > Role.rank(request.membership.role) or Role.rank(membership.role) > Role.rank(request.membership.role):
            raise ApiError("You cannot change a role above your own.", code="permission_denied", status_code=403)
        membership.role = role
        membership.save(update_fields=["role"])
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None}, summary="Remove a member (emits auth.user.deleted)")
    def delete(self, request, pk: int):
        membership = get_object_or_404(_members(request), pk=pk)
        if membership.pk == request.membership.pk:
            raise ApiError("You cannot remove yourself.", code="invalid")
        membership.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
