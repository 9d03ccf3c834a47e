"""Backfill: enrich a JSON-lines archive into files, without a broker, on every core.

``run_backfill`` reads the input line by line and writes, for every non-blank input line, exactly
one output line: the enriched event to ``out`` or the dead-letter record (``deadletter.v1``, the
same record the dead-letter topic carries; ``topic`` is the input path, ``<stdin>`` for ``-``,
``partition`` 0 and ``offset`` the line number, first line 1) to ``dead_letters``. Lines go through
the same :func:`workers.stream.agents.process_batch` as the stream, in batches of
``UNSPUN_BATCH_SIZE``, in worker processes. Time budget (``UNSPUN_ARTICLE_TIMEOUT_S`` per article, 0
turns it off): a batch that runs over its articles' budgets, or whose worker dies, is answered again
one line at a time by fresh workers; the line that runs over becomes a ``timeout`` dead letter (one
whose worker dies, a ``processing_error``), the rest are enriched.

Memory stays flat whatever the file size: at most ``2 * jobs`` batches are in flight, and each
output is written as soon as the batches before it are. Outputs are written in input order, in
both files. No message-size limit applies to files (``UNSPUN_MAX_MESSAGE_BYTES`` is for Kafka).

Parallelism: the models are loaded once in the parent, then ``jobs`` worker processes are forked
from it (Linux ``fork``: the loaded models are shared copy-on-write; the enricher froze them out of
the garbage collector's generations, which keeps the collector from touching, and so copying, those
pages). Workers are replaced by forking again once
the old pool's thread has ended; the progress bar runs no thread (it redraws when told).

Resume: ``resume=True`` appends to both files after dropping a partial last line (an interrupted
write), and skips the input lines already answered: their line numbers are the ``input.offset``
of the events and the ``offset`` of the dead letters. Resume expects the same input file. The
finished line numbers are held in memory (about 60 bytes each).
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from workers.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["BackfillTotals", "default_jobs", "read_finished", "run_backfill"]

# Set in the parent before the workers are forked, so they inherit the loaded models.
_ENRICHER: Any = None
_SETTINGS: Settings | None = None
_SOURCE = ""


@dataclass
class StoppedAtOnce(KeyboardInterrupt):
    """A second SIGINT/SIGTERM stopped the backfill at once (``signum``: that signal's number): the batches in
    flight were dropped, every line written is whole, and a run with ``resume`` finishes the file."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class BackfillTotals:
    """Counts of one run: ``articles`` answered in this run (``events`` + ``dead_letters``),
    ``skipped`` lines answered by an earlier run (``resume``), ``seconds`` of enrichment (wall
    time after the models were loaded), ``bytes_done`` of input read and answered, ``bytes_total``
    the input's size (None for a pipe), ``interrupted_by`` the signal number that stopped the run."""

    articles: int = 0
    events: int = 0
    dead_letters: int = 0
    skipped: int = 0
    seconds: float = 0.0
    bytes_done: int = 0
    bytes_total: int | None = None
    interrupted_by: int | None = None

    @property
    def rate(self) -> float:
        """Articles answered per second of this run."""
        return self.articles / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """The one-line summary printed at the end of ``unspun restore --out``."""
        line = (
            f"articles: {self.articles}, events: {self.events}, dead letters: {self.dead_letters}, "
            f"seconds: {self.seconds:.1f}, articles/s: {self.rate:.1f}"
        )
        if self.skipped:
            line += f", skipped (done before): {self.skipped}"
        if self.interrupted_by is not None:
            line += f"; interrupted by {signal.Signals(self.interrupted_by).name}, run again with --resume to finish"
        return line


def read_finished(out: Path, dead_letters: Path) -> set[int]:
    """Input line numbers an earlier run answered in ``out`` and ``dead_letters``. A last line
    without its newline (a write cut short) is cut off the file; its input line is done again.

    Raises ``ValueError`` naming the file and line when a line is not an output of this command.
    """
    finished: set[int] = set()
    for path, is_event in ((out, True), (dead_letters, False)):
        if not path.exists():
            continue
        with open(path, "r+b") as f:
            kept = 0
            for n, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break
                try:
                    record = orjson.loads(line)
                    finished.add(int((record["input"] if is_event else record)["offset"]))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                    raise ValueError(f"{path}:{n}: not a line written by unspun restore --out ({type(e).__name__}: {e})") from None
                kept += len(line)
            f.truncate(kept)
    return finished


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _enrich_lines(batch: list[tuple[int, bytes]]) -> list[tuple[bool, bytes]]:
    """Enrich one batch of ``(line number, raw line)``; returns ``(is_event, JSON bytes)`` per line, in order."""
    from workers.stream.agents import InMessage, process_batch  # noqa: PLC0415
    from workers.stream.isolation import SLOW_MARKER_ENV, _spin_forever  # noqa: PLC0415

    marker = os.environ.get(SLOW_MARKER_ENV)
    if marker and any(marker.encode() in raw for _, raw in batch):
        _spin_forever()  # test-only hook, as in the stream's enrichment child
    messages = [InMessage(topic=_SOURCE, partition=0, offset=n, key=None, value=raw) for n, raw in batch]
    produced = process_batch(messages, _ENRICHER, _SETTINGS, max_message_bytes=sys.maxsize)
    return [(p.output.kind == "event", p.output.value) for p in produced]


def _dead_letter(line: tuple[int, bytes], kind: str, reason: str) -> tuple[bool, bytes]:
    """A dead-letter output for input ``line`` that no worker could answer."""
    from workers.stream.deadletter import build_dead_letter  # noqa: PLC0415

    n, raw = line
    record = build_dead_letter(raw, topic=_SOURCE, partition=0, offset=n, key=None, kind=kind, reason=reason,
                               versions=getattr(_ENRICHER, "versions", None), max_message_bytes=sys.maxsize)
    return False, orjson.dumps(record)


def _worker_init() -> None:
    """Forked worker: the parent decides when to stop (it finishes the batches in flight), and
    the kernel kills the worker if the parent dies without closing the pool."""
    from workers.stream.isolation import _die_with_parent  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()


class _Workers:
    """``jobs`` worker processes forked from this one (models loaded), replaced as a whole when one
    runs over its time budget or dies."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.pool = self._start()

    def _start(self) -> Any:
        import multiprocessing  # noqa: PLC0415
        from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

        pool = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init)
        pool.submit(int).result()  # forks every worker now, while no other thread runs here
        return pool

    def submit(self, batch: list[tuple[int, bytes]]) -> Any:
        return self.pool.submit(_enrich_lines, batch)

    def close(self, kill: bool = False) -> None:
        if kill:  # a worker spinning on an article would never finish its task
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def restart(self) -> None:
        self.close(kill=True)
        self.pool = self._start()

    def one_by_one(self, batch: list[tuple[int, bytes]], budget_s: float | None) -> list[tuple[bool, bytes]]:
        """Answer ``batch`` one line at a time: a line whose worker runs over ``budget_s`` becomes a
        ``timeout`` dead letter, one whose worker dies a ``processing_error`` dead letter."""
        from concurrent.futures import TimeoutError as FutureTimeout  # noqa: PLC0415
        from concurrent.futures.process import BrokenProcessPool  # noqa: PLC0415

        out = []
        for line in batch:
            try:
                out += self.submit([line]).result(timeout=budget_s)
            except FutureTimeout:
                self.restart()
                out.append(_dead_letter(line, "timeout", f"enrichment took longer than {budget_s:g} s (UNSPUN_ARTICLE_TIMEOUT_S)"))
            except BrokenProcessPool:
                self.restart()
                out.append(_dead_letter(line, "processing_error", "the worker process died while enriching this article"))
        return out


def _batches(f: BinaryIO, size: int, finished: set[int], totals: BackfillTotals) -> Iterator[tuple[list[tuple[int, bytes]], int]]:
    """``(batch of (line number, raw line), input bytes it spans)``; blank and finished lines are
    left out (their bytes are counted with the next batch, or at once when no batch follows)."""
    batch: list[tuple[int, bytes]] = []
    span = 0
    for n, line in enumerate(f, 1):
        span += len(line)
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            continue
        if n in finished:
            totals.skipped += 1
            continue
        batch.append((n, raw))
        if len(batch) >= size:
            yield batch, span
            batch, span = [], 0
    if batch:
        yield batch, span
    totals.bytes_done += span


def run_backfill(
    source: str,
    out: Path,
    dead_letters: Path,
    settings: Settings,
    *,
    jobs: int = 1,
    resume: bool = False,
    enricher: Any = None,
    on_progress: Callable[[BackfillTotals], None] | None = None,
) -> BackfillTotals:
    """Enrich every line of ``source`` (a JSON-lines file, or ``-`` for standard input) into ``out``
    (events) and ``dead_letters`` (dead-letter records); see the module docstring.

    ``enricher``: a loaded :class:`workers.pipeline.Enricher` (default: one is loaded here).
    ``on_progress(totals)`` is called after each batch is written. SIGINT and SIGTERM stop the run
    after the batches in flight are written (``totals.interrupted_by`` is set; nothing is lost or
    half-written, and ``resume=True`` finishes the job). Raises ``OSError`` for unreadable or
    unwritable files and ``ValueError`` when resuming from files that are not this command's output.
    """
    global _ENRICHER, _SETTINGS, _SOURCE
    totals = BackfillTotals()
    finished = read_finished(out, dead_letters) if resume else set()
    infile = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    try:
        if source != "-" and os.path.isfile(source):
            totals.bytes_total = os.fstat(infile.fileno()).st_size
        if enricher is None:
            from workers.pipeline import Enricher  # noqa: PLC0415

            enricher = Enricher(settings)
        _ENRICHER, _SETTINGS, _SOURCE = enricher, settings, "<stdin>" if source == "-" else source
        mode = "ab" if resume else "wb"
        with open(out, mode) as events_f, open(dead_letters, mode) as dead_f:
            _run(infile, events_f, dead_f, settings, jobs, finished, totals, on_progress)
    finally:
        if infile is not sys.stdin.buffer:
            infile.close()
        _ENRICHER = None
    return totals


def _run(
    infile: BinaryIO,
    events_f: BinaryIO,
    dead_f: BinaryIO,
    settings: Settings,
    jobs: int,
    finished: set[int],
    totals: BackfillTotals,
    on_progress: Callable[[BackfillTotals], None] | None,
) -> None:
    stop: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        if stop:  # a second signal: stop now (the batches in flight are lost, not half-written)
            raise StoppedAtOnce(signum)
        stop.append(signum)

    workers = _Workers(jobs)
    budget = settings.article_timeout_s or None
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    window: collections.deque = collections.deque()

    def write(results: list[tuple[bool, bytes]], span: int) -> None:
        for is_event, value in results:
            (events_f if is_event else dead_f).write(value + b"\n")
            totals.events += is_event
            totals.dead_letters += not is_event
        totals.articles += len(results)
        totals.bytes_done += span
        events_f.flush()
        dead_f.flush()
        totals.seconds = time.monotonic() - started
        if on_progress is not None:
            on_progress(totals)

    def write_oldest() -> None:
        from concurrent.futures import TimeoutError as FutureTimeout  # noqa: PLC0415
        from concurrent.futures.process import BrokenProcessPool  # noqa: PLC0415

        future, batch, span = window.popleft()
        try:  # the oldest batch has the workers' attention: its articles' budgets run from now
            results = future.result(timeout=budget * len(batch) if budget else None)
        except (FutureTimeout, BrokenProcessPool):
            log.warning("a batch of lines %d-%d ran over its time budget or its worker died; "
                        "retrying it one line at a time", batch[0][0], batch[-1][0])
            rest = [(b, sp) for _, b, sp in window]
            window.clear()
            workers.restart()
            results = workers.one_by_one(batch, budget)
            window.extend((workers.submit(b), b, sp) for b, sp in rest)
        write(results, span)

    try:
        for batch, span in _batches(infile, settings.batch_size, finished, totals):
            window.append((workers.submit(batch), batch, span))
            if len(window) >= 2 * jobs:
                write_oldest()
            if stop:
                break
        while window:
            write_oldest()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        workers.close(kill=bool(window))
        totals.seconds = time.monotonic() - started
        totals.interrupted_by = stop[0] if stop else None
