"""``LOG_FORMAT=json``: every log record as one JSON object on one line.

The object has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; a record
logged with ``extra={"fields": {...}}`` (plugins_core/activity_log.py) also carries those
fields at the top level; an exception adds ``exception`` (its type and message: the
traceback stays in plain-format logs).
"""
from __future__ import annotations

import datetime as dt
import json
import logging

__all__ = ["JsonFormatter"]

_RESERVED = {"time", "level", "logger", "message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({key: value for key, value in fields.items() if key not in _RESERVED})
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["exception"] = f"{type(error).__name__}: {error}"
        return json.dumps(line, default=str, ensure_ascii=False)
