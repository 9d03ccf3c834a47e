"""The progress bar of ``unspun restore --out`` (rich, on standard error)."""

from __future__ import annotations

import datetime
import time
from typing import Any

from workers.backfill import BackfillTotals


class BackfillProgress:
    """A rich progress bar over the input's bytes with articles, articles/s, dead letters so far
    and the ETA (from the bytes per second of this run; none for input of unknown size).

    Call :meth:`update` with the run's totals after each batch (it redraws then; no refresh thread
    runs, so the backfill may fork workers at any time) and :meth:`stop` at the end.
    """

    def __init__(self, console: Any) -> None:
        """``console``: the ``rich.console.Console`` to draw on (standard error)."""
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn  # noqa: PLC0415

        self.progress = Progress(
            TextColumn("restoring"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[stats]}"),
            console=console, auto_refresh=False,  # no thread: the backfill may fork workers again
        )
        self.task: Any = None
        self._base: tuple[float, int] | None = None  # (monotonic time, bytes) at the first update

    def update(self, totals: BackfillTotals) -> None:
        """Redraw with ``totals`` (see :class:`workers.backfill.BackfillTotals`)."""
        now = time.monotonic()
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("restore", total=totals.bytes_total, stats="")
            self._base = (now, totals.bytes_done)  # lines skipped on resume are not speed
        stats = f"{totals.articles} articles, {totals.rate:.1f} articles/s, {totals.dead_letters} dead letters"
        base_t, base_bytes = self._base  # type: ignore[misc]
        if totals.bytes_total and now > base_t and totals.bytes_done > base_bytes:
            per_s = (totals.bytes_done - base_bytes) / (now - base_t)
            eta = (totals.bytes_total - totals.bytes_done) / per_s
            stats += f", ETA {datetime.timedelta(seconds=round(eta))}"
        self.progress.update(self.task, completed=totals.bytes_done, stats=stats, refresh=True)

    def stop(self) -> None:
        """Leave the last state of the bar on screen and stop redrawing."""
        if self.task is not None:
            self.progress.stop()
