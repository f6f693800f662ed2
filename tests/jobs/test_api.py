"""The job endpoints: list with next and last runs, run-now, run history, and their 4xx."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from croniter import croniter

from plugins_core.jobs import runs
from tests.jobs.support import install

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(owner, lab_zip):
    owner.tenant.timezone = "Asia/Tokyo"
    owner.tenant.save()
    return install(owner, lab_zip)


def test_run_now_answers_202_with_a_run_id_that_can_be_followed(owner, lab):
    response = owner.client.post(f"/api/plugins/{lab.pk}/jobs/tick/run-now")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["job"] == "tick" and body["status"] == "pending"
    runs.execute(body["run_id"])  # what the worker does
    run = owner.client.get(body["url"]).json()
    assert run["id"] == body["run_id"] and run["status"] == "ok" and run["trigger"] == "run-now"
    assert run["result"] == {"ticked": True} and run["duration_ms"] > 0


def test_jobs_list_shows_next_run_in_the_tenants_zone_and_last_runs(owner, lab):
    run = runs.queue_run_now(lab, "boom")
    runs.execute(run.pk)
    body = owner.client.get(f"/api/plugins/{lab.pk}/jobs").json()
    assert body["timezone"] == "Asia/Tokyo"
    jobs = {job["name"]: job for job in body["jobs"]}
    assert set(jobs) == {"tick", "boom", "hang", "hog", "slow"}
    boom = jobs["boom"]
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    expected = croniter("0 3 * * *", dt.datetime.now(tokyo)).get_next(dt.datetime)
    assert dt.datetime.fromisoformat(boom["next_run"]) == expected
    assert dt.datetime.fromisoformat(boom["next_run"]).astimezone(tokyo).hour == 3
    assert boom["last_runs"][0]["status"] == "error" and "blew up" in boom["last_runs"][0]["error"]
    assert jobs["tick"]["last_runs"] == []


def test_sbh_guide_run_now_path(owner, sbh_zip):
    installation = install(owner, sbh_zip)
    response = owner.client.post(f"/api/plugins/{installation.pk}/jobs/daily_cleanup/run-now")
    assert response.status_code == 202
    runs.execute(response.json()["run_id"])
    run = owner.client.get(response.json()["url"]).json()
    assert run["status"] == "ok", run["error"]
    assert run["result"] == {"status": "cleanup_completed"}
    assert any("Running daily cleanup" in line for line in run["logs"])


def test_unknown_job_is_a_404_naming_the_jobs(owner, lab):
    response = owner.client.post(f"/api/plugins/{lab.pk}/jobs/nope/run-now")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_job" and "tick" in error["message"]
    assert error["details"][0]["field"] == "name"


def test_run_now_on_a_disabled_installation_is_a_409(owner, lab):
    owner.client.post(f"/api/plugins/{lab.pk}/disable")
    response = owner.client.post(f"/api/plugins/{lab.pk}/jobs/tick/run-now")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plugin_disabled"


def test_another_tenants_plugin_is_a_404(other_owner, lab):
    assert other_owner.client.post(f"/api/plugins/{lab.pk}/jobs/tick/run-now").status_code == 404
    assert other_owner.client.get(f"/api/plugins/{lab.pk}/jobs").status_code == 404
    assert other_owner.client.get(f"/api/plugins/{lab.pk}/job-runs").status_code == 404


def test_run_now_needs_the_admin_role(make_actor, lab):
    developer = make_actor("acme", "developer")
    response = developer.client.post(f"/api/plugins/{lab.pk}/jobs/tick/run-now")
    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]


def test_run_history_filters_and_refuses_unknown_values(owner, lab):
    for job in ("tick", "tick", "boom"):
        runs.execute(runs.queue_run_now(lab, job).pk)
    rows = owner.client.get(f"/api/plugins/{lab.pk}/job-runs?job=tick").json()["results"]
    assert [r["job"] for r in rows] == ["tick", "tick"]
    failed = owner.client.get(f"/api/plugins/{lab.pk}/job-runs?status=error").json()["results"]
    assert [r["job"] for r in failed] == ["boom"]
    bad = owner.client.get(f"/api/plugins/{lab.pk}/job-runs?status=weird")
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "status"
