"""The one timestamp format of unspun's outputs and logs: RFC 3339, UTC, milliseconds, ``Z``."""

from __future__ import annotations

import time
from datetime import datetime, timezone

__all__ = ["utc_iso"]


def utc_iso(ts: float | None = None) -> str:
    """RFC 3339 UTC timestamp with milliseconds for ``ts`` (seconds since the epoch; now if None),
    e.g. ``"2024-05-01T12:00:00.123Z"``."""
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
