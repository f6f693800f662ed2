"""One structured line per finished invocation: who, what, outcome; nothing the plugin wrote."""
import json
import logging

import pytest

from config.logformat import JsonFormatter
from plugins_core.events.dispatch import run_event_hooks
from plugins_core.events.emit import emit
from tests.kit import install, plugin_zip

pytestmark = pytest.mark.django_db

SECRET = "sk_live_ACTIVITY-LOG-0042"
CODE = f'''
from src.ext.sdk import hook

@hook("build.completed")
def leaks(ctx, event_data):
    print("{SECRET}")
    return {{"token": "{SECRET}"}}

@hook("build.completed")
def fails(ctx, event_data):
    raise ValueError("{SECRET}")
'''


def activity_lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "plugyard.activity"]


def test_each_finished_hook_is_one_json_line_with_its_outcome_and_no_plugin_text(owner, caplog):
    installation = install(owner, plugin_zip("leaky", CODE, events=["build.completed"]))
    event = emit(owner.tenant, "build.completed", {"build_id": 3, "status": "success"})
    caplog.set_level(logging.INFO, logger="plugyard.activity")
    run_event_hooks(event, installation)
    lines = {line["name"]: line for line in activity_lines(caplog)}
    assert set(lines) == {"leaks", "fails"}
    for name, status in [("leaks", "ok"), ("fails", "error")]:
        line = lines[name]
        assert line["activity"] == "invocation" and line["kind"] == "hook" and line["status"] == status
        assert line["tenant_id"] == owner.tenant.pk and line["installation_id"] == installation.pk
        assert line["plugin"] == "leaky" and line["version"] == "1.0.0" and line["event_id"] == event.pk
        assert line["attempt"] == 1 and line["duration_ms"] > 0 and line["level"] == "INFO"
    assert SECRET not in caplog.text and SECRET not in json.dumps(list(lines.values()))


def test_a_plain_format_keeps_the_activity_logger_quiet_and_json_turns_it_on(monkeypatch):
    import importlib

    from config import settings as settings_module

    try:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
        monkeypatch.delenv("LOG_ACTIVITY", raising=False)
        plain = importlib.reload(settings_module).LOGGING
        monkeypatch.setenv("LOG_FORMAT", "json")
        as_json = importlib.reload(settings_module).LOGGING
        monkeypatch.setenv("LOG_FORMAT", "yaml")
        with pytest.raises(Exception, match="LOG_FORMAT: 'yaml' is not one of plain, json"):
            importlib.reload(settings_module)
    finally:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
        importlib.reload(settings_module)
    assert plain["loggers"]["plugyard.activity"]["level"] == "WARNING"
    assert as_json["loggers"]["plugyard.activity"]["level"] == "INFO"
    assert as_json["handlers"]["console"]["formatter"] == "json"


def test_the_json_formatter_writes_one_object_per_line_with_the_exception_type():
    try:
        raise KeyError("missing")
    except KeyError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",),
                                                  exc_info=__import__("sys").exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) | {"time": None} == {"time": None, "level": "ERROR", "logger": "x",
                                                  "message": "failed here", "exception": "KeyError: 'missing'"}
