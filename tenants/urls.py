from django.urls import path

from tenants import api

urlpatterns = [
    path("members/", api.MemberListView.as_view(), name="member-list"),
    path("members/<int:pk>", api.MemberDetailView.as_view(), name="member-detail"),
    path("members/<int:pk>/invite", api.MemberInviteView.as_view(), name="member-invite"),
]
