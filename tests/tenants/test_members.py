"""The members API and the rules behind it (tenants/members.py): invitations, roles, removal."""
import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from tenants.models import Membership, Role
from tests.tenants.links import GOOD_PASSWORD, choose_password, link_in

pytestmark = pytest.mark.django_db


def _invite(actor, email="new@acme.test", role="member"):
    return actor.client.post("/api/members/", {"email": email, "role": role}, format="json")


def _role(actor, target, role):
    return actor.client.patch(f"/api/members/{target.membership.pk}", {"role": role}, format="json")


def _field(response):
    return [d["field"] for d in response.json()["error"]["details"]]


# --------------------------------------------------------------------------- invitations


def test_invite_emails_a_working_one_time_link_and_no_password(owner, client):
    response = _invite(owner, role="developer")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "invited" and body["invitation_sent"] is True and body["role"] == "developer"
    [email] = mail.outbox
    assert email.to == ["new@acme.test"] and "Acme" in email.subject
    link = link_in(email.body)
    assert "password:" not in email.body.lower()
    assert choose_password(client, link).status_code == 302
    user = get_user_model().objects.get(email="new@acme.test")
    assert user.check_password(GOOD_PASSWORD)
    assert GOOD_PASSWORD not in email.body
    assert owner.client.get(f"/api/members/{body['id']}").json()["status"] == "active"


def test_someone_with_a_password_is_sent_the_sign_in_page_instead(owner, other_owner):
    other_owner.membership.user.set_password("their-own-Passphrase-1")
    other_owner.membership.user.save()
    response = _invite(owner, email=other_owner.membership.user.email)
    assert response.status_code == 201 and response.json()["status"] == "active"
    [email] = mail.outbox
    assert "set-password" not in email.body
    assert "http://127.0.0.1:8000/accounts/login/" in email.body


def test_invite_again_sends_a_fresh_link_until_a_password_is_chosen(owner, client):
    member_id = _invite(owner).json()["id"]
    again = owner.client.post(f"/api/members/{member_id}/invite")
    assert again.status_code == 200 and again.json()["invitation_sent"] is True
    assert len(mail.outbox) == 2
    assert choose_password(client, link_in(mail.outbox[1].body)).status_code == 302
    refused = owner.client.post(f"/api/members/{member_id}/invite")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_pending"


def test_a_failing_mail_server_keeps_the_member_and_says_so(owner, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr("tenants.members.send_mail", broken)
    response = _invite(owner)
    assert response.status_code == 201 and response.json()["invitation_sent"] is False
    assert Membership.objects.for_tenant(owner.tenant).filter(user__email="new@acme.test").exists()


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"email": "nope", "role": "member"}, "email", 400),
        ({"email": "a@b.test", "role": "emperor"}, "role", 400),
        ({"role": "member"}, "email", 400),
        ({"email": ["a@b.test"]}, "email", 400),
        ({"email": "owner-0@acme.test"}, "email", 409),
    ],
)
def test_bad_invitations_name_the_field(owner, body, field, status):
    response = owner.client.post("/api/members/", body, format="json")
    assert response.status_code == status, response.content
    assert field in _field(response)
    assert not mail.outbox


@pytest.mark.parametrize("email", ["", "nope", "a@", "two@at@acme.test"])
def test_the_rules_check_the_email_themselves(owner, email):
    """Whatever adapter calls them (the API and the page validate first), a bad email is refused."""
    from tenants import members
    from tenants.errors import MemberError

    with pytest.raises(MemberError) as excinfo:
        members.invite(owner.membership, email, "member")
    assert (excinfo.value.field, excinfo.value.status) == ("email", 400)
    assert "is not an email address" in excinfo.value.message
    assert not get_user_model().objects.filter(username=email).exists()


def test_an_email_too_long_for_a_username_is_a_400_on_email(owner):
    response = _invite(owner, email=f"{'a' * 150}@acme.test")
    assert response.status_code == 400 and _field(response) == ["email"]


# --------------------------------------------------------------------------- who may do what


def test_members_and_developers_get_403_on_every_change(make_actor):
    make_actor("acme", "owner")
    target = make_actor("acme", "member")
    for role in ["member", "developer"]:
        actor = make_actor("acme", role)
        assert _invite(actor).status_code == 403
        assert _role(actor, target, "developer").status_code == 403
        assert actor.client.delete(f"/api/members/{target.membership.pk}").status_code == 403
        assert actor.client.post(f"/api/members/{target.membership.pk}/invite").status_code == 403
        assert actor.client.get("/api/members/").status_code == 200
    assert Membership.objects.get(pk=target.membership.pk).role == "member"


def test_another_tenants_member_is_404(owner, other_owner):
    pk = other_owner.membership.pk
    assert owner.client.get(f"/api/members/{pk}").status_code == 404
    assert owner.client.patch(f"/api/members/{pk}", {"role": "member"}, format="json").status_code == 404
    assert owner.client.delete(f"/api/members/{pk}").status_code == 404
    assert owner.client.post(f"/api/members/{pk}/invite").status_code == 404
    assert Membership.objects.get(pk=pk).role == "owner"


def test_admins_grant_up_to_admin_but_never_owner(make_actor):
    make_actor("acme", "owner")
    admin, developer = make_actor("acme", "admin"), make_actor("acme", "developer")
    refused = _invite(admin, role="owner")
    assert refused.status_code == 403 and _field(refused) == ["role"]
    assert _role(admin, developer, "owner").status_code == 403
    assert _invite(admin, role="admin").status_code == 201
    assert _role(admin, developer, "admin").status_code == 200


def test_admins_cannot_change_or_remove_admins_and_owners(make_actor):
    owner, admin, other_admin = make_actor("acme", "owner"), make_actor("acme", "admin"), make_actor("acme", "admin")
    assert _role(admin, other_admin, "member").status_code == 403
    assert _role(admin, owner, "member").status_code == 403
    assert admin.client.delete(f"/api/members/{owner.membership.pk}").status_code == 403
    assert admin.client.delete(f"/api/members/{other_admin.membership.pk}").status_code == 403
    assert set(Membership.objects.for_tenant(owner.tenant).values_list("role", flat=True)) == {"owner", "admin"}
    assert _role(owner, other_admin, "member").status_code == 200


def test_the_last_owner_can_be_neither_demoted_nor_removed(make_actor):
    owner = make_actor("acme", "owner")
    refused = _role(owner, owner, "admin")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "last_owner"
    assert Membership.objects.get(pk=owner.membership.pk).role == "owner"
    second = make_actor("acme", "owner")
    assert _role(owner, owner, "admin").status_code == 200  # steps down: another owner remains
    assert _role(second, second, "admin").status_code == 409
    assert second.client.delete(f"/api/members/{second.membership.pk}").status_code == 400


def test_an_owner_removes_another_owner_but_not_the_last(make_actor):
    owner, second = make_actor("acme", "owner"), make_actor("acme", "owner")
    assert owner.client.delete(f"/api/members/{second.membership.pk}").status_code == 204
    assert list(Membership.objects.for_tenant(owner.tenant).values_list("role", flat=True)) == [Role.OWNER]


def test_the_rules_read_the_actors_current_role_not_a_stale_one(make_actor):
    """Someone demoted a moment ago acts with their new role, whatever their request loaded."""
    from tenants import members
    from tenants.errors import MemberError

    owner, second = make_actor("acme", "owner"), make_actor("acme", "owner")
    stale = Membership.objects.get(pk=owner.membership.pk)
    members.change_role(second.membership, owner.membership, "admin")
    with pytest.raises(MemberError) as excinfo:
        members.remove(stale, second.membership)
    assert excinfo.value.status == 403
    assert Membership.objects.filter(pk=second.membership.pk, role="owner").exists()


@pytest.mark.parametrize("body", [{}, {"role": "emperor"}, {"role": None}, {"role": ["owner"]}])
def test_malformed_role_changes_are_a_400_naming_role(owner, make_actor, body):
    target = make_actor("acme", "member")
    response = owner.client.patch(f"/api/members/{target.membership.pk}", body, format="json")
    assert response.status_code == 400 and _field(response) == ["role"]
    assert Membership.objects.get(pk=target.membership.pk).role == "member"


def test_a_body_that_is_not_an_object_is_a_400(owner, make_actor):
    target = make_actor("acme", "member")
    assert owner.client.patch(f"/api/members/{target.membership.pk}", [], format="json").status_code == 400
    assert owner.client.post("/api/members/", "[1]", content_type="application/json").status_code == 400
