"""Structured logging of the worker: one JSON object per line on standard error
(``UNSPUN_LOG_JSON``, level ``UNSPUN_LOG_LEVEL``), with repeated warnings of the Kafka and stream
libraries rate-limited (:class:`RepeatFilter`)."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from workers.settings import Settings
from workers.timestamps import utc_iso

__all__ = ["JsonLogFormatter", "RepeatFilter", "logging_config"]

#: Seconds during which further lines like one already written are held back.
REPEAT_WINDOW_S = 10.0


class RepeatFilter(logging.Filter):
    """Lets through one warning (or worse) per logger and message template every ``window_s``
    seconds, for loggers outside ``workers`` (aiokafka, faust, mode, asyncio). With the broker
    down, aiokafka writes the same few errors dozens of times a second; the first line that
    passes after a quiet window says how many like it were held back.

    The worker's own lines (one per article or event that matters) always pass.
    """

    def __init__(self, window_s: float = REPEAT_WINDOW_S) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.name == "workers" or record.name.startswith("workers."):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.window_s:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {now - last:.0f} s not logged]"
        return True



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


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: lines on stderr at ``settings.log_level``, JSON
    objects (``UNSPUN_LOG_JSON``, the default) or plain text, repeats held back by :class:`RepeatFilter`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": JsonLogFormatter},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "filters": {"repeats": {"()": RepeatFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json" if settings.log_json else "plain",
                "filters": ["repeats"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": settings.log_level.upper(), "handlers": ["stderr"]},
    }


