"""Structured logging of the worker: one JSON object per line on standard error
(``UNSPUN_LOG_JSON``, level ``UNSPUN_LOG_LEVEL``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from workers.settings import Settings
from workers.timestamps import utc_iso

__all__ = ["JsonLogFormatter", "logging_config"]


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: ``ts`` (RFC 3339 UTC), ``level``, ``logger``, ``message``
    and ``exc`` (traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(settings: Settings) -> dict[str, Any] | None:
    """A ``logging.config.dictConfig`` dict: JSON lines on stderr at ``settings.log_level``;
    None when ``UNSPUN_LOG_JSON`` is off (plain text logging)."""
    if not settings.log_json:
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLogFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": settings.log_level.upper(), "handlers": ["stderr"]},
    }


