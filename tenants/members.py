"""A tenant's people: inviting them, changing their roles, removing them.

The members API and the members page both call these functions, so the rules live here once:

1. Owners and admins manage members; developers and members see the list and nothing more.
2. Nobody grants a role above their own: an admin invites or promotes up to admin; only an
   owner makes someone an owner.
3. Admins manage only the roles below theirs (members and developers). They cannot change or
   remove another admin or an owner, so two admins cannot lock each other out; an owner
   settles that. Owners manage everyone, themselves included.
4. A tenant always keeps an owner: the last owner can be neither demoted nor removed (make
   someone else owner first). The owners' rows are locked while this is checked, so two
   owners demoting each other at the same moment cannot both succeed.
5. Nobody removes themselves here; another owner or admin does it. An owner may step down to
   a lower role while another owner remains.
6. An invitation is an email with a one-time set-password link (``tenants.links``); it never
   carries a password. Someone who has a password already is sent the sign-in page instead.
   "Invite again" sends a fresh link, for people who have not chosen a password yet.
7. The email is sent after the membership is committed. If sending fails the member stays
   and the caller is told (``Invitation.sent``), so an admin can invite them again.

Every refusal is a :class:`~tenants.errors.MemberError` naming the field and its status.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from tenants import links
from tenants.errors import MemberError
from tenants.models import Membership, Role

__all__ = [
    "Invitation",
    "can_change",
    "can_manage",
    "change_role",
    "grantable_roles",
    "invite",
    "invite_again",
    "is_pending",
    "remove",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invitation:
    membership: Membership
    sent: bool


# --------------------------------------------------------------------------- who may do what


def can_manage(actor: Membership) -> bool:
    return actor.has_role(Role.ADMIN)


def grantable_roles(actor: Membership) -> list[str]:
    """The roles ``actor`` may give, weakest first (none unless they manage members)."""
    if not can_manage(actor):
        return []
    return [role.value for role in Role if Role.rank(role) <= Role.rank(actor.role)]


def can_change(actor: Membership, target: Membership) -> bool:
    """Whether ``actor`` may change ``target``'s role or remove them (rules 1 and 3)."""
    if not can_manage(actor):
        return False
    return actor.role == Role.OWNER or Role.rank(target.role) < Role.rank(actor.role)


def is_pending(membership: Membership) -> bool:
    """Invited and not signed up yet: the user has no password to sign in with."""
    return not membership.user.has_usable_password()


def _require_manager(actor: Membership) -> None:
    if not can_manage(actor):
        raise MemberError(
            f"Only owners and admins of {actor.tenant.name} manage its members; "
            f"you are a {actor.get_role_display().lower()}.",
            code="permission_denied",
            status=403,
        )


def _require_grantable(actor: Membership, role: str) -> None:
    if role not in Role.values:
        raise MemberError(f"{role!r} is not a role; use one of {', '.join(Role.values)}.", field="role")
    if role not in grantable_roles(actor):
        raise MemberError(
            f"You cannot grant the {role} role: it is above your own ({actor.role}).",
            field="role",
            code="too_high",
            status=403,
        )


def _require_changeable(actor: Membership, target: Membership) -> None:
    _require_manager(actor)
    if not can_change(actor, target):
        raise MemberError(
            f"Only an owner can change or remove {target.user.email or target.user.get_username()}, "
            f"who is {'an' if target.role in (Role.ADMIN, Role.OWNER) else 'a'} {target.role}.",
            code="permission_denied",
            status=403,
        )


def _locked(actor: Membership, target: Membership) -> tuple[Membership, Membership, int]:
    """Actor and target re-read under row locks, and how many owners the tenant has (locked too).

    The rules are checked on these fresh rows, so a role changed a moment ago by someone else
    counts, not the one the caller loaded.
    """
    if target.tenant_id != actor.tenant_id:
        raise MemberError("No such member in this tenant.", code="not_found", status=404)
    owners = list(
        Membership.objects.for_tenant(actor.tenant)
        .filter(role=Role.OWNER)
        .select_for_update()
        .values_list("pk", flat=True)
    )
    rows = {
        row.pk: row
        for row in Membership.objects.select_for_update(of=("self",))
        .select_related("user", "tenant")
        .filter(pk__in=[actor.pk, target.pk])
    }
    if actor.pk not in rows:
        raise MemberError("You are no longer a member of this tenant.", code="permission_denied", status=403)
    if target.pk not in rows:
        raise MemberError("That person is no longer a member of this tenant.", code="not_found", status=404)
    return rows[actor.pk], rows[target.pk], len(owners)


def _last_owner(target: Membership, owners: int) -> MemberError | None:
    if target.role == Role.OWNER and owners <= 1:
        return MemberError(
            f"{target.user.email or target.user.get_username()} is the last owner of "
            f"{target.tenant.name}; make someone else owner first.",
            field="role",
            code="last_owner",
            status=409,
        )
    return None


# --------------------------------------------------------------------------- changes


def change_role(actor: Membership, target: Membership, role: str) -> Membership:
    """Give ``target`` the role ``role``; returns the saved membership."""
    with transaction.atomic():
        actor, target, owners = _locked(actor, target)
        _require_changeable(actor, target)
        _require_grantable(actor, role)
        if target.role == role:
            return target
        if problem := _last_owner(target, owners):
            raise problem
        target.role = role
        target.save(update_fields=["role"])
    return target


def remove(actor: Membership, target: Membership) -> None:
    """Take ``target`` out of the tenant (their user account stays)."""
    if target.pk == actor.pk:
        raise MemberError("You cannot remove yourself; ask another owner or admin.", code="invalid", status=400)
    with transaction.atomic():
        actor, target, owners = _locked(actor, target)
        _require_changeable(actor, target)
        if problem := _last_owner(target, owners):
            problem.field = ""
            raise problem
        target.delete()


# --------------------------------------------------------------------------- invitations


def _clean_email(raw: str) -> str:
    email = BaseUserManager.normalize_email((raw or "").strip())
    try:
        validate_email(email)
    except ValidationError:
        raise MemberError(f"{raw!r} is not an email address.", field="email") from None
    return email


def _new_user(email: str, username: str | None):
    User = get_user_model()
    username = username or email
    if User.objects.filter(username=username).exists():
        raise MemberError(f"The username {username!r} is taken.", field="username", code="taken")
    user = User(username=username, email=email)
    user.set_unusable_password()
    try:
        user.full_clean()
    except ValidationError as exc:
        # The username defaults to the email: a problem with it is a problem with the email.
        field, messages = next(iter(exc.message_dict.items()))
        field = "email" if field == "username" and username == email else field
        raise MemberError(" ".join(messages), field=field) from None
    user.save()
    return user


def invite(actor: Membership, email: str, role: str = Role.MEMBER, *, username: str | None = None) -> Invitation:
    """Add ``email`` to the actor's tenant with ``role`` and email them how to sign in.

    Creates the user (without a password) unless one has that email already.
    """
    _require_manager(actor)
    _require_grantable(actor, role)
    email = _clean_email(email)
    exists = MemberError(f"{email} is a member already.", field="email", code="exists", status=409)
    try:
        with transaction.atomic():
            user = get_user_model().objects.filter(email__iexact=email).first() or _new_user(email, username)
            if Membership.objects.filter(user=user, tenant=actor.tenant).exists():
                raise exists
            membership = Membership.objects.create(user=user, tenant=actor.tenant, role=role)
    except IntegrityError:
        # Someone invited the same person (or took the username) at the same moment.
        raise exists from None
    return Invitation(membership, _send_invitation(actor, membership))


def invite_again(actor: Membership, target: Membership) -> Invitation:
    """Send a fresh set-password link to a member who has not chosen a password yet."""
    _require_manager(actor)
    if target.tenant_id != actor.tenant_id:
        raise MemberError("No such member in this tenant.", code="not_found", status=404)
    if not is_pending(target):
        raise MemberError(
            f"{target.user.email} has a password already and signs in with it.", code="not_pending", status=409
        )
    if not target.user.email:
        raise MemberError("This member has no email address to send to.", field="email", code="no_email", status=409)
    return Invitation(target, _send_invitation(actor, target))


def _send_invitation(actor: Membership, membership: Membership) -> bool:
    user = membership.user
    pending = is_pending(membership)
    context = {
        "tenant": membership.tenant,
        "role": membership.get_role_display(),
        "inviter": actor.user.email or actor.user.get_username(),
        "username": user.get_username(),
        "pending": pending,
        "link": links.set_password_url(user) if pending else links.sign_in_url(),
        "lifetime": links.link_lifetime(),
    }
    subject = render_to_string("tenants/invitation_subject.txt", context).strip()
    body = render_to_string("tenants/invitation_email.txt", context)
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:  # any backend's failure: the member stays, the admin may invite again
        log.exception("could not send the invitation to %s for tenant %s", user.email, membership.tenant.slug)
        return False
    return True
