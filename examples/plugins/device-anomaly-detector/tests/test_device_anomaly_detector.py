"""Given a device's normal readings, a spike raises one alert and does not join the baseline."""
import device_anomaly_detector as detector
import pytest
from ops_center_sdk.testing import call_route, trigger_hook, use_mocks

NORMAL = [40.0, 42.0, 41.0, 39.0, 40.5, 41.5]


@pytest.fixture
def plugin():
    return use_mocks(detector.plugin, config={"threshold": 3.0, "min_samples": 5})


async def _reading(plugin, cpu, device_id="dev-1"):
    [result] = await trigger_hook(plugin, "device.metrics_updated", device_id=device_id, metrics={"cpu": cpu})
    return result


def test_the_z_score():
    assert detector.z_score([1.0, 3.0], 5.0) == 3.0
    assert detector.z_score([2.0, 2.0], 2.0) == 0.0
    assert detector.score([1.0], 9.0, 3.0, 5) == {"anomaly": False, "learning": True, "samples": 1}


@pytest.mark.asyncio
async def test_normal_readings_are_learned_and_a_spike_is_an_alert(plugin):
    for cpu in NORMAL:
        assert (await _reading(plugin, cpu))["anomalies"] == {}

    spike = await _reading(plugin, 97.0)

    assert spike["anomalies"]["cpu"]["anomaly"] is True
    [alert] = plugin.api.get_requests(method="POST", endpoint="/alerts")
    assert alert["data"]["device_id"] == "dev-1" and alert["data"]["severity"] == "warning"
    assert plugin.logger.has_log("Anomaly on device dev-1", level="warning")
    baseline = await call_route(plugin, "GET", "/devices/dev-1/baseline")
    assert baseline["metrics"]["cpu"]["samples"] == len(NORMAL)  # the spike was not learned


@pytest.mark.asyncio
async def test_status_and_an_unknown_device(plugin):
    await _reading(plugin, 40.0, device_id="dev-2")
    assert (await call_route(plugin, "GET", "/status"))["devices"] == 1
    assert await call_route(plugin, "GET", "/devices/nope/baseline") == ({"error": "No readings for this device yet"}, 404)
