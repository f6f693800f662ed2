"""The members page and the set-password page, for people signed in with a session.

Members page (``/members/``): the current tenant's people and their roles. The tenant is the
one the marketplace pages act for (``tenants.sessions``). Everyone in the tenant sees the
list; owners and admins invite, change roles, remove and invite again, each a POST with
CSRF, under the rules written in ``tenants.members``. Another tenant's member is 404; a
refused change is 403 (not allowed), 409 (it would leave the tenant without an owner) or
400 (malformed input, naming the field), and the page says why.

Set-password page (``/accounts/set-password/<uidb64>/<token>/``): where the links that
``create_tenant`` prints and invitations email lead. It is Django's own
``PasswordResetConfirmView`` (the token moves into the session before the form is shown, so
it never leaks in a Referer), which checks the password against AUTH_PASSWORD_VALIDATORS,
then signs the user in and sends them to the marketplace. A used, expired or mangled link
answers 400 with a page saying what to do.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tenants import links, members
from tenants.errors import MemberError
from tenants.forms import InviteForm, RoleForm, TenantSwitchForm
from tenants.models import Membership, Role
from tenants.sessions import PageTenant, current_tenant

__all__ = ["SetPasswordView", "change_role", "invite", "invite_again", "member_list", "remove"]


def member_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign-in required; call ``view(request, page, ...)`` with the request's PageTenant."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        page = current_tenant(request)
        if page is None:
            raise PermissionDenied("Your account does not belong to any tenant yet. Ask a tenant's owner to add you.")
        return view(request, page, *args, **kwargs)

    return login_required(wrapper, login_url=settings.LOGIN_URL)


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    pending: bool
    can_change: bool
    can_remove: bool
    is_you: bool


def _render(
    request: HttpRequest,
    page: PageTenant,
    *,
    invite_form: InviteForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    actor = page.membership
    rows = [
        MemberRow(
            membership=m,
            pending=members.is_pending(m),
            can_change=members.can_change(actor, m),  # an owner may step down: their own row too
            can_remove=members.can_change(actor, m) and m.pk != actor.pk,
            is_you=m.pk == actor.pk,
        )
        for m in Membership.objects.for_tenant(page.tenant).select_related("user", "tenant").order_by("user__email", "pk")
    ]
    labels = dict(Role.choices)
    switcher = None
    if len(page.memberships) > 1:
        switcher = TenantSwitchForm(
            initial={"tenant": page.tenant.slug, "next": request.get_full_path()},
            choices=[(m.tenant.slug, m.tenant.name) for m in page.memberships],
        )
    context = {
        "tenant_ctx": page,
        "tenant_switcher": switcher,
        "rows": rows,
        "can_manage": members.can_manage(actor),
        "grantable": [(role, labels[role]) for role in members.grantable_roles(actor)],
        "invite_form": invite_form or InviteForm(),
        "error": error,
        "lifetime": links.link_lifetime(),
    }
    return render(request, "tenants/members.html", context, status=status)


def _refused(request: HttpRequest, page: PageTenant, exc: MemberError, invite_form: InviteForm | None = None) -> HttpResponse:
    if exc.status == 404:
        raise Http404(exc.message)
    if exc.status == 403 and not exc.field:
        raise PermissionDenied(exc.message)
    if invite_form is not None and exc.field in invite_form.fields:
        invite_form.add_error(exc.field, exc.message)
        return _render(request, page, invite_form=invite_form, status=exc.status)
    return _render(request, page, error=exc.message, status=exc.status)


def _target(page: PageTenant, pk: int) -> Membership:
    target = Membership.objects.for_tenant(page.tenant).select_related("user", "tenant").filter(pk=pk).first()
    if target is None:
        raise Http404(f"{page.tenant.name} has no member number {pk}.")
    return target


def _back() -> HttpResponse:
    return redirect(reverse("tenants:members"))


def _who(membership: Membership) -> str:
    return membership.user.email or membership.user.get_username()


@require_GET
@member_page
def member_list(request: HttpRequest, page: PageTenant) -> HttpResponse:
    return _render(request, page)


@require_POST
@member_page
def invite(request: HttpRequest, page: PageTenant) -> HttpResponse:
    if not members.can_manage(page.membership):
        raise PermissionDenied("Only owners and admins invite people. Ask one of them.")
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _render(request, page, invite_form=form, status=400)
    try:
        invitation = members.invite(page.membership, form.cleaned_data["email"], form.cleaned_data["role"])
    except MemberError as exc:
        return _refused(request, page, exc, invite_form=form)
    who, role = _who(invitation.membership), invitation.membership.get_role_display().lower()
    if invitation.sent:
        messages.success(request, f"Added {who} as {role} and emailed them how to sign in.")
    else:
        messages.warning(request, f"Added {who} as {role}, but the email could not be sent. Try “Invite again”.")
    return _back()


@require_POST
@member_page
def change_role(request: HttpRequest, page: PageTenant, pk: int) -> HttpResponse:
    target = _target(page, pk)
    if not members.can_manage(page.membership):
        raise PermissionDenied("Only owners and admins change roles. Ask one of them.")
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _render(request, page, error=f"role: {' '.join(form.errors['role'])}", status=400)
    try:
        changed = members.change_role(page.membership, target, form.cleaned_data["role"])
    except MemberError as exc:
        return _refused(request, page, exc)
    messages.success(request, f"{_who(changed)} is now {changed.get_role_display().lower()}.")
    return _back()


@require_POST
@member_page
def remove(request: HttpRequest, page: PageTenant, pk: int) -> HttpResponse:
    target = _target(page, pk)
    if not members.can_manage(page.membership):
        raise PermissionDenied("Only owners and admins remove members. Ask one of them.")
    try:
        members.remove(page.membership, target)
    except MemberError as exc:
        return _refused(request, page, exc)
    messages.success(request, f"Removed {_who(target)} from {page.tenant.name}.")
    return _back()


@require_POST
@member_page
def invite_again(request: HttpRequest, page: PageTenant, pk: int) -> HttpResponse:
    target = _target(page, pk)
    try:
        invitation = members.invite_again(page.membership, target)
    except MemberError as exc:
        return _refused(request, page, exc)
    if invitation.sent:
        messages.success(request, f"Sent {_who(target)} a new link.")
    else:
        messages.warning(request, f"The email to {_who(target)} could not be sent. Try again later.")
    return _back()


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """Choose a password from a one-time link, then land signed in in the marketplace."""

    template_name = "tenants/set_password.html"
    post_reset_login = True

    def get_success_url(self) -> str:
        return resolve_url(settings.LOGIN_REDIRECT_URL)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "lifetime": links.link_lifetime()}

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your password is set and you are signed in.")
        return response

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        if not context.get("validlink"):
            kwargs.setdefault("status", 400)
        return super().render_to_response(context, **kwargs)
