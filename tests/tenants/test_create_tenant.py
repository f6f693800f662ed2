"""manage.py create_tenant prints a working token as its last line; bad input exits non-zero."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tenants.models import Membership, Role, Tenant

pytestmark = pytest.mark.django_db


def test_last_line_is_a_token_that_works():
    out = StringIO()
    call_command("create_tenant", "acme", "--owner", "ops@acme.test", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    assert Membership.objects.get(tenant__slug="acme").role == Role.OWNER
    client = APIClient()
    response = client.get("/api/plugins/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_TENANT_SLUG="acme")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["Bad Slug!", "--owner", "a@b.test"], "slug"),
        (["acme", "--owner", "not-an-email"], "--owner"),
        (["acme", "--owner", "a@b.test", "--timezone", "Mars/Base"], "timezone"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(args, problem):
    with pytest.raises(CommandError) as excinfo:
        call_command("create_tenant", *args, stdout=StringIO())
    assert problem in str(excinfo.value)
    assert not Tenant.objects.exists()


def test_existing_slug_is_refused():
    call_command("create_tenant", "acme", "--owner", "a@b.test", stdout=StringIO())
    with pytest.raises(CommandError, match="exists"):
        call_command("create_tenant", "acme", "--owner", "c@d.test", stdout=StringIO())
