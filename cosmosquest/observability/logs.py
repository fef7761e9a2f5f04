"""Log lines with the request id, as plain text or as one JSON object per line (LOG_FORMAT=json).

The standard library's logging does the work; this adds a filter that stamps each record with
the request id in progress (keymanager/context.py) and a formatter that writes JSON, so a log
collector can follow one id from the web request through its django-q2 task into the pool.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from keymanager.context import current_trace_id

# LogRecord attributes that are not extra fields a caller passed.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "trace_id"}


class TraceIdFilter(logging.Filter):
    """Adds `record.trace_id` ("-" outside any request or task) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = current_trace_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, trace_id,
    process, the exception's traceback if any, and any `extra=` fields given to the call."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None) or current_trace_id() or None,
            "process": record.process,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in payload and not name.startswith("_"):
                payload[name] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def logging_config(*, log_format: str, level: str) -> dict:
    """settings.LOGGING for LOG_FORMAT "plain" or "json"."""
    formatter = (
        {"()": "cosmosquest.observability.logs.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"trace_id": {"()": "cosmosquest.observability.logs.TraceIdFilter"}},
        "formatters": {"main": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["trace_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
