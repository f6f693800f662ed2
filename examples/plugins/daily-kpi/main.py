"""Daily KPI: the SBH guide's example that "calculates daily KPIs and stores analytics".

Every night at 1 AM (or on run-now) the daily_kpi job counts the tenant's users and stored
files, writes the day's numbers to analytics/kpi/<date>.json and analytics/kpi/latest.json,
and emits kpi.computed; GET /ext/daily-kpi/kpi/latest answers the last ones.
"""
import datetime
import json

from src.ext.sdk import PluginContext, job, route

LATEST = "analytics/kpi/latest.json"


def compute_kpis(users, files, day):
    """The day's KPIs from the rows and file names read: pure, so a test checks it alone."""
    active = [u for u in users if u.get("active", u.get("is_active", True))]
    return {
        "date": day,
        "users": len(users),
        "active_users": len(active),
        "active_ratio": round(len(active) / len(users), 3) if users else 0.0,
        "files": len([f for f in files if not f.startswith("analytics/")]),
    }


@job("daily_kpi", schedule="0 1 * * *")
def daily_kpi_job(ctx: PluginContext):
    day = datetime.date.today().isoformat()
    kpis = compute_kpis(ctx.db.query("users"), ctx.files.list(""), day)
    ctx.files.upload(f"analytics/kpi/{day}.json", json.dumps(kpis))
    ctx.files.upload(LATEST, json.dumps(kpis))
    ctx.emit("kpi.computed", kpis)
    return {"status": "kpis_stored", **kpis}


@route("/kpi/latest", methods=["GET"])
def latest_kpis(ctx: PluginContext):
    stored = ctx.files.read(LATEST)
    if not stored:
        return {"error": "No KPIs yet: the daily_kpi job has not run"}, 404
    return {"kpis": json.loads(stored)}
