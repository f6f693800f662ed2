"""Given some users and files, the job stores the day's KPIs and the route answers them."""
import json

from main import compute_kpis, daily_kpi_job, latest_kpis
from plugyard_sdk.testing import LocalBackend
from src.ext.sdk import PluginContext

USERS = [{"id": 1, "active": True}, {"id": 2, "active": True}, {"id": 3, "active": False}]


def test_kpis_count_users_and_the_tenants_own_files():
    kpis = compute_kpis(USERS, ["uploads/a.png", "analytics/kpi/latest.json"], "2025-01-02")
    assert kpis == {"date": "2025-01-02", "users": 3, "active_users": 2, "active_ratio": 0.667, "files": 1}
    assert compute_kpis([], [], "2025-01-02")["active_ratio"] == 0.0


def test_the_job_stores_the_kpis_and_the_route_answers_them():
    backend = LocalBackend(tables={"users": USERS}, files={"uploads/a.png": "x"},
                           permissions=["db.read", "files.read", "files.write"])
    ctx = PluginContext("test-tenant", "test-user", backend=backend)
    assert latest_kpis(ctx) == ({"error": "No KPIs yet: the daily_kpi job has not run"}, 404)

    result = daily_kpi_job(ctx)

    assert result["status"] == "kpis_stored" and result["users"] == 3
    stored = json.loads(backend.files[f"analytics/kpi/{result['date']}.json"])
    assert stored["active_users"] == 2 and stored["files"] == 1
    assert latest_kpis(ctx) == {"kpis": stored}
    assert [event for event, _ in backend.emitted] == ["kpi.computed"]
