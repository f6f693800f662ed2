"""GET /api/plugins/ runs a constant number of queries, however many installations there are."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plugins_core.models import Installation, Plugin, PluginVersion
from plugins_core.secrets import set_secret

pytestmark = pytest.mark.django_db


def _install_many(tenant, count: int) -> None:
    for index in range(count):
        plugin = Plugin.objects.create(slug=f"p{index}", name=f"P{index}", publisher=tenant)
        version = PluginVersion.objects.create(
            plugin=plugin, version="1.0.0", manifest={"permissions": ["db.read"], "events": ["x.y"]},
            package=f"packages/{index}.zip", package_format="zip", sha256=f"{index:064d}", size=1,
        )
        installation = Installation.objects.create(tenant=tenant, plugin=plugin, version=version)
        set_secret(installation, "API_KEY", "v")


def _queries(client) -> int:
    client.get("/api/plugins/")  # the first call records the token's use; measure a steady call
    with CaptureQueriesContext(connection) as context:
        response = client.get("/api/plugins/")
    assert response.status_code == 200
    return len(context.captured_queries)


def test_query_count_is_constant(owner):
    _install_many(owner.tenant, 5)
    few = _queries(owner.client)
    Installation.objects.all().delete()
    PluginVersion.objects.all().delete()
    Plugin.objects.all().delete()
    _install_many(owner.tenant, 500)
    assert _queries(owner.client) == few
