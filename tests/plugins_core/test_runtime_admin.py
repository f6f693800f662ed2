"""The staff runtime page: staff see the figures and the charts; anyone else goes to the login;
an empty database draws empty charts, not a 500. And the charts' geometry on its own."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from plugins_core.charts import bar_chart
from tests.plugins_core.test_metrics import dataset  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

URL = "/admin/plugyard/runtime/"


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_user("staff", password="pw-long-enough-1", is_staff=True))
    return client


def test_staff_see_the_figures_the_charts_and_each_plugin(staff_client, dataset):  # noqa: F811
    response = staff_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(r'id="event-lag">4\d\.\d s', page)  # the oldest waiting event, 42 s old when made
    assert 'id="pending">2<' in page
    assert "3 event(s) waiting for dispatch" in page
    assert "median of 3 run(s); slowest 10.0 s" in page
    assert "1 retrying, 2 succeeded, 1 failed" in page
    for title in ("Invocations finished per minute", "Events dispatched per minute",
                  "Webhook deliveries per minute, by outcome", "Cron slot lag per minute"):
        assert title in page
    # Four big charts and two sparklines per plugin, each with a slot for every minute.
    assert page.count('<svg class="runtime-chart"') == 4 + 2 * 2
    assert page.count('class="slot"') == 60 * 8
    rows = re.findall(r'<tr data-plugin="(\w+)">(.*?)</tr>', page, re.S)
    assert [slug for slug, _ in rows] == ["alpha", "beta"]
    alpha, beta = (cells for _, cells in rows)
    assert "20% (1/5)" in alpha and "30.0 ms" in alpha and "100.0 ms" in alpha
    assert "50% (1/2)" in beta and "7.0 ms" in beta and "5000.0 ms" in beta


def test_an_empty_database_draws_empty_charts(staff_client):
    response = staff_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="bar ' not in page and page.count('class="slot"') == 60 * 4
    assert "No plugin was called in the last hour." in page
    assert 'id="sandbox">up<' in page  # the session's real sandbox service


def test_the_admin_index_links_to_it(staff_client):
    assert f'href="{URL}"' in staff_client.get("/admin/").content.decode()


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_anyone_but_staff_is_sent_to_the_login(client, who):
    if who == "member":
        client.force_login(get_user_model().objects.create_user("member", password="pw-long-enough-1"))
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/plugyard/runtime/")


def test_a_chart_has_a_slot_per_minute_and_bars_only_where_something_happened():
    chart = bar_chart({"ok": [0, 3, None, 1], "error": [0, 1, 0, 0]}, ["10:00", "10:01", "10:02", "10:03"],
                      width=40, height=22)
    assert [s.label for s in chart.slots] == ["10:00", "10:01", "10:02", "10:03"]
    assert [(b.label, b.series) for b in chart.bars] == [("10:01", "ok"), ("10:01", "error"), ("10:03", "ok")]
    assert chart.peak == 4
    ok, error, small = chart.bars
    assert (ok.height, error.height, error.y) == ("15", "5", "2")  # 3/4 and 1/4 of 20 px, stacked
    assert small.height == "5" and small.x == "30.5"
    assert bar_chart({"ok": [0, 0]}, ["a", "b"]).empty


def test_a_tiny_value_beside_a_big_one_stays_visible():
    chart = bar_chart({"ok": [1000, 1]}, ["a", "b"], height=50)
    assert float(chart.bars[1].height) == 2
