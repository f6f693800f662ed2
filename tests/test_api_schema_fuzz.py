"""Schemathesis against /api/schema/: the schema describes what the API really answers.

Given a tenant whose owner uploaded and enabled a real plugin (so ids name real rows), when
schemathesis sends schema-valid requests to every operation (in-process, over WSGI, with the
owner's token and tenant header), then no answer is a 5xx, every status is documented, and
every body matches its schema. A second run is stateful: it uploads a real package and
follows the schema's links from the upload's answer to the operations on the installation.
Bounded and deterministic (derandomized, a fixed number of examples per operation).

The fuzz runs in a pytest process of its own (``test_the_fuzz_passes_in_its_own_process``),
on its own test database, so its thousand-odd requests neither see nor leave the rest of
the suite's state. In the full suite it had failed on both legs with the test's database
connection closed: Django's ``close_old_connections`` ran at each WSGI request's start and
closed it (the test Client switches that off; ``_requests_keep_the_test_connection`` does
the same here). Run in its own process it then found a real 500 on PostgreSQL: a NUL
character in ``GET /api/events/?type=`` (now a 400 naming the field).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_zip, plugin_files, upload

IN_OWN_PROCESS = "PLUGYARD_SCHEMA_FUZZ_PROCESS"
pytestmark = pytest.mark.django_db
fuzz = pytest.mark.skipif(not os.environ.get(IN_OWN_PROCESS),
                          reason="runs in its own process: test_the_fuzz_passes_in_its_own_process")


@pytest.mark.skipif(bool(os.environ.get(IN_OWN_PROCESS)), reason="the process this starts")
def test_the_fuzz_passes_in_its_own_process():
    env = {**os.environ, IN_OWN_PROCESS: "1"}
    if env.get("DATABASE_URL", "").startswith("postgres"):  # a test database of its own, beside the suite's
        env["DATABASE_URL"] = re.sub(r"/([^/?]+)(\?|$)", r"/\1_schema_fuzz\2", env["DATABASE_URL"], count=1)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s", __file__],
        cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "2 passed" in result.stdout, result.stdout[-5000:]
    print(result.stdout[-2000:])

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 15
#: Every operation the schema lists is called; fewer means the schema or the filter lost some.
MIN_OPERATIONS = 55
_SETTINGS = settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture(autouse=True)
def _requests_keep_the_test_connection(monkeypatch):
    """As Django's test Client does: a request made over WSGI here must not close the
    database connection that holds this test's transaction. At a request's start and end
    Django closes a connection whose autocommit differs from its setting, as it does inside
    the test's atomic block; on PostgreSQL that ended the test's transaction mid-run."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    monkeypatch.setattr(BaseDatabaseWrapper, "close_if_unusable_or_obsolete", lambda self: None)


@pytest.fixture
def world(owner, make_actor):
    """The owner's tenant with an enabled plugin, a device, an alert, an event, a second member."""
    from devices import services as devices
    from plugins_core import services
    from plugins_core.events.models import Event
    from plugins_core.models import Installation

    response = upload(owner, make_zip(plugin_files("sbh-my-plugin")))
    assert response.status_code == 201, response.content
    installation = Installation.objects.get(pk=response.json()["id"])
    services.enable(installation)
    device = devices.create_device(owner.tenant, {"name": "edge-1", "type": "sensor"})
    alert = devices.create_alert(owner.tenant, {"title": "hot", "message": "too hot", "severity": "warning",
                                                "device_id": device.pk})
    member = make_actor(owner.tenant.slug, "member")
    event = Event.objects.for_tenant(owner.tenant).order_by("-id").first()
    return {
        "owner": owner, "installation": installation,
        "ids": {
            "/api/plugins/": {"id": installation.pk, "name": "API_KEY", "run_id": 1, "delivery_id": 1},
            "/api/devices/": {"id": device.pk}, "/api/alerts/": {"id": alert.pk},
            "/api/members/": {"id": member.membership.pk}, "/api/events/": {"id": event.pk},
            "/api/invocations/": {"id": 1}, "/ext/": {"slug": installation.plugin.slug, "subpath": "ping"},
            "/api/files/": {"path": "notes/a.txt"}, "/api/webhooks/": {"source": "github"},
        },
    }


def _headers(actor) -> dict[str, str]:
    return {"Authorization": f"Bearer {actor.token}", "X-Tenant-Slug": actor.tenant.slug}


def _schema():
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    # Schema-valid requests only: what the schema promises is checked, not how bad input is refused.
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE], deterministic=True)
    return schema


def _fixed_ids(world, path: str) -> dict:
    for prefix, ids in world["ids"].items():
        if path.startswith(prefix):
            return {name: value for name, value in ids.items() if "{" + name + "}" in path}
    return {}


def _fuzz(strategy, headers: dict[str, str], label: str, called: dict[str, int]) -> None:
    @_SETTINGS
    @given(case=strategy)
    def run(case):
        response = case.call(headers=headers)
        called[label] = called.get(label, 0) + 1
        case.validate_response(response, checks=CHECKS)

    run()


def _connection_alive() -> bool:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # the driver's own "closed" errors differ by database
        return False


@fuzz
def test_every_operation_answers_as_its_schema_says(world):
    from plugins_core import services
    from plugins_core.models import Installation

    schema = _schema()
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, the deepest first, so the rows the others use are there while they run.
    operations.sort(key=lambda operation: (operation.method.upper() == "DELETE", -operation.path.count("/"),
                                           operation.path, operation.method))
    headers = _headers(world["owner"])
    called: dict[str, int] = {}
    failures: list[str] = []

    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        installation = Installation.objects.filter(pk=world["installation"].pk).first()
        if installation is not None and not installation.enabled:  # after a disable: enabled again
            services.enable(installation)
        strategy = operation.as_strategy(path_parameters=_fixed_ids(world, operation.path) or None)
        try:
            _fuzz(strategy, headers, label, called)
        except (Exception, BaseExceptionGroup) as exc:  # one operation's failures must not hide the others'
            failures.append(f"{label}: {exc}")
        assert _connection_alive(), f"{label} left this test's database connection closed; failures so far: {failures}"

    print(f"schemathesis: {len(called)} operations, {sum(called.values())} requests")
    assert not failures, "\n\n".join(failures)
    assert len(called) >= MIN_OPERATIONS, sorted(called)


@fuzz
def test_stateful_links_from_upload_reach_the_installation(owner):
    files = plugin_files("sbh-my-plugin")
    manifest = json.loads(files["plugin.json"])
    uploads = itertools.count(1)
    headers = _headers(owner)
    schema = _schema()
    upload_path = "/api/plugins/upload"
    links = schema.raw_schema["paths"][upload_path]["post"]["responses"]["201"]["links"]
    assert "plugins_enable_create" in links and "plugins_config_partial_update" in links

    reached: set[str] = set()

    class Workflow(schema.as_state_machine()):
        def before_call(self, case):
            if case.operation.path == upload_path:
                # A real package, a new version each time: every scenario's upload answers 201,
                # and the links start from its answer.
                version = {**manifest, "version": f"1.0.{next(uploads)}"}
                case.body = {"file": make_zip({**files, "plugin.json": json.dumps(version).encode()})}

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def after_call(self, response, case):
            if response.status_code < 300 and "{id}" in case.operation.path:
                reached.add(f"{case.operation.method.upper()} {case.operation.path}")

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(settings=settings(max_examples=30, stateful_step_count=8, derandomize=True, database=None,
                                   deadline=None, suppress_health_check=list(HealthCheck)))
    assert reached, "no operation on an uploaded installation answered 2xx"
