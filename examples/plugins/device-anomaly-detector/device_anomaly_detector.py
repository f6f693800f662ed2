"""Device Anomaly Detector: the Ops-Center guide's `device_anomaly_detector.py` example.

It learns, per device and per metric, a baseline of the recent readings (a rolling window
kept in plugin storage) and scores each new reading by its z-score against it: how many
standard deviations it lies from the mean. A reading past the `threshold` setting, once
`min_samples` readings are known, raises a warning alert. The outlier itself is not added
to the baseline, so one spike does not teach the detector that spikes are normal.
"""
from statistics import mean, pstdev
from typing import Any

from ops_center_sdk import Plugin

plugin = Plugin(
    id="device-anomaly-detector",
    name="Device Anomaly Detector",
    version="1.0.0",
    description="Learns each device's normal metrics and raises an alert when a reading is an outlier",
    author="Plugyard examples",
    category="monitoring",
)


def z_score(history: list[float], value: float) -> float:
    """How far `value` is from the history's mean, in standard deviations (0 for a flat history
    equal to it; large for any change from a flat one)."""
    spread = pstdev(history)
    if spread == 0:
        return 0.0 if value == history[-1] else float("inf")
    return abs(value - mean(history)) / spread


def score(history: list[float], value: float, threshold: float, min_samples: int) -> dict[str, Any]:
    if len(history) < min_samples:
        return {"anomaly": False, "learning": True, "samples": len(history)}
    z = z_score(history, value)
    return {"anomaly": z > threshold, "learning": False, "samples": len(history),
            "z": round(z, 2) if z != float("inf") else "inf", "mean": round(mean(history), 2)}


@plugin.hook("device.metrics_updated", priority=10)
async def on_metrics_updated(device_id: str, metrics: dict[str, Any]) -> dict[str, Any]:
    threshold = float(plugin.config.get("threshold", default=3.0))
    min_samples = int(plugin.config.get("min_samples", default=5))
    window = int(plugin.config.get("window", default=50))
    anomalies = {}
    for name, value in sorted(metrics.items()):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        key = f"baseline:{device_id}:{name}"
        history = await plugin.storage.get(key, default=[])
        verdict = score(history, float(value), threshold, min_samples)
        if verdict["anomaly"]:
            anomalies[name] = {"value": value, **verdict}
        else:
            await plugin.storage.set(key, (history + [float(value)])[-window:])
    if anomalies:
        summary = ", ".join(f"{n}={a['value']} (z={a['z']})" for n, a in anomalies.items())
        plugin.logger.warning(f"Anomaly on device {device_id}: {summary}")
        await plugin.api.alerts.create({
            "device_id": device_id,
            "severity": "warning",
            "title": "Anomalous metrics",
            "message": f"Unusual readings on device {device_id}: {summary}",
        })
    return {"device_id": device_id, "anomalies": anomalies}


@plugin.route("/status", methods=["GET"])
async def get_status() -> dict[str, Any]:
    baselines = await plugin.storage.list_keys("baseline:*")
    return {"status": "running", "version": plugin.metadata.version,
            "devices": len({key.split(":")[1] for key in baselines}), "baselines": len(baselines)}


@plugin.route("/devices/{device_id}/baseline", methods=["GET"])
async def get_baseline(device_id: str):
    keys = await plugin.storage.list_keys(f"baseline:{device_id}:*")
    if not keys:
        return {"error": "No readings for this device yet"}, 404
    result = {}
    for key in keys:
        history = await plugin.storage.get(key, default=[])
        result[key.rsplit(":", 1)[1]] = {"samples": len(history), "mean": round(mean(history), 2),
                                          "stdev": round(pstdev(history), 2)}
    return {"device_id": device_id, "metrics": result}


app = plugin.create_app()
