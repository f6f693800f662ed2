"""The people pages, mounted at the site root: /members/… and /accounts/set-password/…."""
from django.urls import path

from tenants import pages

app_name = "tenants"
urlpatterns = [
    path("members/", pages.member_list, name="members"),
    path("members/invite/", pages.invite, name="invite"),
    path("members/<int:pk>/role/", pages.change_role, name="member-role"),
    path("members/<int:pk>/remove/", pages.remove, name="member-remove"),
    path("members/<int:pk>/invite-again/", pages.invite_again, name="member-invite-again"),
    path("accounts/set-password/<uidb64>/<token>/", pages.SetPasswordView.as_view(), name="set-password"),
]
