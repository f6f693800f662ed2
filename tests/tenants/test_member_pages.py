"""The members page (session sign-in): who sees what, invitations, role changes, removal, CSRF."""
import pytest
from django.core import mail
from django.test import Client

from tenants.models import Membership
from tenants.sessions import SESSION_TENANT_KEY
from tests.tenants.links import choose_password, link_in

pytestmark = pytest.mark.django_db


def signed_in(actor, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(actor.membership.user)
    return client


def _role_url(actor):
    return f"/members/{actor.membership.pk}/role/"


def _remove_url(actor):
    return f"/members/{actor.membership.pk}/remove/"


# --------------------------------------------------------------------------- seeing the page


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/members/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_in_no_tenant_gets_403(client, django_user_model):
    client.force_login(django_user_model.objects.create(username="loner"))
    assert client.get("/members/").status_code == 403


def test_owner_sees_everyone_with_forms_that_carry_csrf(make_actor):
    owner, member = make_actor("acme", "owner"), make_actor("acme", "member")
    make_actor("globex", "owner")
    page = signed_in(owner).get("/members/")
    assert page.status_code == 200
    html = page.content.decode()
    assert member.membership.user.email in html and owner.membership.user.email in html
    assert "globex" not in html
    assert 'action="/members/invite/"' in html and _role_url(member) in html and _remove_url(member) in html
    assert html.count("csrfmiddlewaretoken") >= 4
    assert _remove_url(owner) not in html  # nobody removes themselves


def test_a_member_sees_the_list_read_only(make_actor):
    owner, member = make_actor("acme", "owner"), make_actor("acme", "member")
    html = signed_in(member).get("/members/").content.decode()
    assert owner.membership.user.email in html
    assert "/members/invite/" not in html and "/role/" not in html and "/remove/" not in html


def test_an_admin_gets_controls_only_for_roles_below_theirs(make_actor):
    owner, admin, developer = make_actor("acme", "owner"), make_actor("acme", "admin"), make_actor("acme", "developer")
    html = signed_in(admin).get("/members/").content.decode()
    assert _role_url(developer) in html and _remove_url(developer) in html
    assert _role_url(owner) not in html and _remove_url(owner) not in html
    assert '<option value="owner"' not in html


def test_the_page_acts_for_the_tenant_picked_in_the_switcher(make_actor):
    acme = make_actor("acme", "owner")
    globex = make_actor("globex", "member")
    Membership.objects.create(user=acme.membership.user, tenant=globex.tenant, role="member")
    client = signed_in(acme)
    assert globex.membership.user.email not in client.get("/members/").content.decode()
    session = client.session
    session[SESSION_TENANT_KEY] = globex.tenant.pk
    session.save()
    html = client.get("/members/").content.decode()
    assert globex.membership.user.email in html and 'action="/tenant/"' in html
    assert "/members/invite/" not in html  # a plain member there


def test_the_marketplace_navigation_links_to_members(owner):
    html = signed_in(owner).get("/installed/").content.decode()
    assert 'href="/members/"' in html


# --------------------------------------------------------------------------- invitations


def test_invite_by_page_emails_a_working_link(owner):
    client = signed_in(owner)
    response = client.post("/members/invite/", {"email": "New@Acme.test", "role": "developer"})
    assert response.status_code == 302 and response["Location"] == "/members/"
    membership = Membership.objects.for_tenant(owner.tenant).get(user__email__iexact="new@acme.test")
    assert membership.role == "developer"
    [email] = mail.outbox
    assert choose_password(Client(), link_in(email.body)).status_code == 302
    assert "emailed them" in client.get("/members/").content.decode()


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"email": "not-an-email", "role": "member"}, 400, "Enter a valid email address."),
        ({"email": "x@acme.test", "role": "emperor"}, 400, "Select a valid choice."),
        ({"role": "member"}, 400, "This field is required."),
        ({"email": "owner-0@acme.test", "role": "member"}, 409, "is a member already"),
    ],
)
def test_bad_invitations_answer_4xx_naming_the_field(owner, data, status, message):
    response = signed_in(owner).post("/members/invite/", data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert not mail.outbox


def test_an_admin_cannot_invite_an_owner_by_page(make_actor):
    make_actor("acme", "owner")
    admin = make_actor("acme", "admin")
    response = signed_in(admin).post("/members/invite/", {"email": "boss@acme.test", "role": "owner"})
    assert response.status_code == 403 and "above your own" in response.content.decode()
    assert not Membership.objects.filter(user__email="boss@acme.test").exists()


def test_invite_again_by_page(owner):
    client = signed_in(owner)
    client.post("/members/invite/", {"email": "new@acme.test", "role": "member"})
    pending = Membership.objects.get(user__email="new@acme.test")
    assert "Invite again" in client.get("/members/").content.decode()
    assert client.post(f"/members/{pending.pk}/invite-again/").status_code == 302
    assert len(mail.outbox) == 2 and link_in(mail.outbox[1].body)


# --------------------------------------------------------------------------- changes


def test_owner_changes_a_role_and_removes_a_member(make_actor):
    owner, member = make_actor("acme", "owner"), make_actor("acme", "member")
    client = signed_in(owner)
    assert client.post(_role_url(member), {"role": "admin"}).status_code == 302
    assert Membership.objects.get(pk=member.membership.pk).role == "admin"
    assert client.post(_remove_url(member)).status_code == 302
    assert not Membership.objects.filter(pk=member.membership.pk).exists()


def test_the_last_owner_cannot_step_down_and_the_page_says_why(owner):
    response = signed_in(owner).post(_role_url(owner), {"role": "admin"})
    assert response.status_code == 409 and "last owner" in response.content.decode()
    assert Membership.objects.get(pk=owner.membership.pk).role == "owner"


@pytest.mark.parametrize("data", [{}, {"role": "emperor"}])
def test_a_malformed_role_is_a_400_naming_the_field(make_actor, data):
    owner, member = make_actor("acme", "owner"), make_actor("acme", "member")
    response = signed_in(owner).post(_role_url(member), data)
    assert response.status_code == 400 and "role:" in response.content.decode()
    assert Membership.objects.get(pk=member.membership.pk).role == "member"


def test_members_get_403_on_every_change(make_actor):
    owner, member, other = make_actor("acme", "owner"), make_actor("acme", "member"), make_actor("acme", "member")
    client = signed_in(member)
    assert client.post("/members/invite/", {"email": "x@acme.test", "role": "member"}).status_code == 403
    assert client.post(_role_url(other), {"role": "admin"}).status_code == 403
    assert client.post(_remove_url(owner)).status_code == 403
    assert client.post(f"/members/{other.membership.pk}/invite-again/").status_code == 403
    assert Membership.objects.for_tenant(owner.tenant).count() == 3
    assert Membership.objects.get(pk=other.membership.pk).role == "member"


def test_an_admin_cannot_touch_an_owner_by_page(make_actor):
    owner, admin = make_actor("acme", "owner"), make_actor("acme", "admin")
    client = signed_in(admin)
    assert client.post(_role_url(owner), {"role": "member"}).status_code == 403
    assert client.post(_remove_url(owner)).status_code == 403
    assert Membership.objects.get(pk=owner.membership.pk).role == "owner"


def test_another_tenants_member_is_404(owner, other_owner):
    client = signed_in(owner)
    assert client.post(_role_url(other_owner), {"role": "member"}).status_code == 404
    assert client.post(_remove_url(other_owner)).status_code == 404
    assert client.post(f"/members/{other_owner.membership.pk}/invite-again/").status_code == 404
    assert Membership.objects.filter(pk=other_owner.membership.pk, role="owner").exists()


def test_changes_need_post_and_csrf(make_actor):
    owner, member = make_actor("acme", "owner"), make_actor("acme", "member")
    assert signed_in(owner).get(_remove_url(member)).status_code == 405
    strict = signed_in(owner, enforce_csrf_checks=True)
    assert strict.post(_remove_url(member)).status_code == 403
    assert strict.post("/members/invite/", {"email": "x@acme.test", "role": "member"}).status_code == 403
    assert Membership.objects.filter(pk=member.membership.pk).exists()
    assert not mail.outbox
