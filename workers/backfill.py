"""Backfill: enrich a JSON-lines archive into files, without a broker, on every core.

``run_backfill`` reads the input line by line and writes, for every non-blank input line, exactly
one output line: the enriched event to ``out`` or the dead-letter record (``deadletter.v1``, the
same record the dead-letter topic carries; ``topic`` is the input path, ``<stdin>`` for ``-``,
``partition`` 0 and ``offset`` the line number, first line 1) to ``dead_letters``. Lines go through
the same :func:`workers.stream.agents.process_batch` as the stream, in batches of
``UNSPUN_BATCH_SIZE``. Unlike the stream, no per-article time budget applies
(``UNSPUN_ARTICLE_TIMEOUT_S``): an article that never finishes holds its worker.

Memory stays flat whatever the file size: at most ``2 * jobs`` batches are in flight, and each
output is written as soon as the batches before it are. Outputs are written in input order, in
both files. No message-size limit applies to files (``UNSPUN_MAX_MESSAGE_BYTES`` is for Kafka).

Parallelism: the models are loaded once in the parent, then ``jobs`` worker processes are forked
from it (Linux ``fork``: the loaded models are shared copy-on-write; ``gc.freeze`` keeps the
collector from touching, and so copying, those pages). With ``jobs == 1`` the parent enriches
in-process.

Resume: ``resume=True`` appends to both files after dropping a partial last line (an interrupted
write), and skips the input lines already answered: their line numbers are the ``input.offset``
of the events and the ``offset`` of the dead letters. Resume expects the same input file. The
finished line numbers are held in memory (about 60 bytes each).
"""

from __future__ import annotations

import collections
import gc
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

__all__ = ["BackfillTotals", "default_jobs", "drop_partial_line", "read_finished", "run_backfill"]

# Set in the parent before the workers are forked, so they inherit the loaded models.
_ENRICHER: Any = None
_SETTINGS: Settings | None = None
_SOURCE = ""


@dataclass
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


def drop_partial_line(path: Path) -> int:
    """Cut a last line that has no newline (a write cut short) off ``path``; returns the bytes cut.

    A missing file counts as empty.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "r+b") as f:
        pos = size
        block = 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            if pos == size and chunk.endswith(b"\n"):
                return 0
            i = chunk.rfind(b"\n")
            if i != -1:
                keep = start + i + 1
                break
            pos = start
        else:
            keep = 0
        f.truncate(keep)
    return size - keep


def read_finished(out: Path, dead_letters: Path) -> set[int]:
    """Input line numbers an earlier run answered in ``out`` and ``dead_letters`` (partial last
    lines dropped first).

    Raises ``ValueError`` naming the file and line when a line is not an output of this command.
    """
    finished: set[int] = set()
    for path, is_event in ((out, True), (dead_letters, False)):
        drop_partial_line(path)
        if not path.exists():
            continue
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                try:
                    record = orjson.loads(line)
                    finished.add(int((record["input"] if is_event else record)["offset"]))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                    raise ValueError(f"{path}:{n}: not a line written by unspun restore --out ({type(e).__name__}: {e})") from None
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

    messages = [InMessage(topic=_SOURCE, partition=0, offset=n, key=None, value=raw) for n, raw in batch]
    produced = process_batch(messages, _ENRICHER, _SETTINGS, max_message_bytes=sys.maxsize)
    return [(p.output.kind == "event", p.output.value) for p in produced]


def _worker_init() -> None:
    """Forked worker: the parent decides when to stop (it finishes the batches in flight), and
    the kernel kills the worker if the parent dies without closing the pool."""
    from workers.stream.isolation import _die_with_parent  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()


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
            raise KeyboardInterrupt
        stop.append(signum)

    pool = None
    if jobs > 1:
        import multiprocessing  # noqa: PLC0415
        from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

        gc.collect()
        gc.freeze()  # the inherited objects stay out of the children's collections: their pages stay shared
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init)
        pool.submit(int).result()  # forks every worker now, before the caller starts any thread (progress bar)
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

    try:
        for batch, span in _batches(infile, settings.batch_size, finished, totals):
            if pool is None:
                write(_enrich_lines(batch), span)
            else:
                window.append((pool.submit(_enrich_lines, batch), span))
                if len(window) >= 2 * jobs:
                    future, done_span = window.popleft()
                    write(future.result(), done_span)
            if stop:
                break
        while window:
            future, done_span = window.popleft()
            write(future.result(), done_span)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            gc.unfreeze()
        totals.seconds = time.monotonic() - started
        totals.interrupted_by = stop[0] if stop else None
