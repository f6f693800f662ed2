"""Management commands: sandbox_check and prune_invocations."""
import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from plugins_core.models import Installation, Invocation
from plugins_core.sandbox import get_supervisor
from tests.conftest import upload

pytestmark = pytest.mark.django_db


def test_sandbox_check_lists_every_layer():
    out = StringIO()
    missing = [name for name, active in get_supervisor().layers().items() if not active]
    if missing:
        with pytest.raises(CommandError, match="missing layer"):
            call_command("sandbox_check", stdout=out)
    else:
        call_command("sandbox_check", stdout=out)
        assert "All isolation layers are active." in out.getvalue()
    for name in ["process", "namespaces", "rlimits", "seccomp", "import_allowlist", "audit_hooks"]:
        assert name in out.getvalue()


def test_prune_invocations_keeps_recent_rows(owner, sbh_zip):
    installation = Installation.objects.get(pk=upload(owner, sbh_zip).json()["id"])
    old = Invocation.objects.create(tenant=owner.tenant, installation=installation, kind="route", name="old", status="ok")
    Invocation.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    Invocation.objects.create(tenant=owner.tenant, installation=installation, kind="route", name="new", status="ok")
    out = StringIO()
    call_command("prune_invocations", stdout=out)
    assert list(Invocation.objects.values_list("name", flat=True)) == ["new"]
    with pytest.raises(CommandError, match="--days"):
        call_command("prune_invocations", "--days", "0", stdout=out)
