"""Restoration and NER in a child process, with a per-article time budget.

Restoration and NER are CPU-bound Python: a thread running them cannot be interrupted, so an
article that never finishes would stall its partition for good. :class:`IsolatedEnricher` runs
the real :class:`workers.pipeline.Enricher` in one child process (models loaded there) and
watches it from the worker:

* the child reports progress over a pipe: "restoring article *i*", then "NER of the batch";
* each stage has a deadline: ``UNSPUN_ARTICLE_TIMEOUT_S`` seconds for one article's restoration,
  and that budget times the number of articles for the NER of the batch (spaCy runs over the
  batch at once). When a stage runs over, the child is killed (SIGKILL) and a fresh one started;
* an article whose restoration ran over gets ``Rejected("timeout")``; the other articles of the
  batch are enriched again by the new child. When the NER of a batch runs over, its articles
  are retried one at a time, so the one that is too slow is found and only it times out;
* a child that dies (crash, out of memory) is handled the same way, with ``processing_error``.

So a timed-out article costs its budget plus a model reload (about 4 s); other articles are
never lost or failed because of it. ``UNSPUN_ARTICLE_TIMEOUT_S`` <= 0 disables the budget.

Children are made by a ``forkserver`` (safe with the worker's threads) that has the heavy modules
imported already, so a replacement only loads the models.

Test-only hook: when ``UNSPUN_TEST_SLOW_MARKER`` is set in the worker's environment, the child
spins (CPU-bound, never returning) on any article whose text contains that string, to exercise
the budget. It is meant for tests; leave it unset in production.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from workers.articles import Rejected
from workers.settings import Settings

__all__ = ["EnrichmentProcessError", "IsolatedEnricher", "SLOW_MARKER_ENV"]

log = logging.getLogger(__name__)

#: Environment variable of the test-only slow-article hook (see the module docstring).
SLOW_MARKER_ENV = "UNSPUN_TEST_SLOW_MARKER"
_WARM_UP = "The governor mentioned on Friday that Marisol Vega would lead the Port of Calder Bay."
_PRELOAD = ["workers.pipeline", "workers.restoration", "workers.entities", "spacy"]
_context: Any = None
_context_lock = threading.Lock()


class EnrichmentProcessError(RuntimeError):
    """The enrichment child could not be started or did not load its models."""


def _mp_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
            _context = ctx
        return _context


# ------------------------------------------------------------------------------------ the child


def _to_wire(result: Any) -> Any:
    # Rejected does not survive pickling (its __init__ takes more than the message).
    if isinstance(result, Rejected):
        return ("__rejected__", result.kind, result.reason, result.article_id, result.error_class)
    return result


def _from_wire(item: Any) -> Any:
    if isinstance(item, tuple) and item and item[0] == "__rejected__":
        return Rejected(item[1], item[2], item[3], item[4])
    return item


def _spin_forever() -> None:
    x = 0
    while True:  # CPU-bound, like a runaway restoration
        x = (x * 31 + 7) % 1_000_003


def _die_with_parent() -> None:
    """Have the kernel kill this process when its parent (the forkserver, which exits with the
    worker) dies, so a worker killed with SIGKILL leaves no child spinning on an article."""
    try:
        import ctypes  # noqa: PLC0415
        import signal  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pipe's EOF still ends an idle child
        pass


def _child_main(conn: Any, settings: Settings, slow_marker: str | None = None) -> None:
    """Child process: load the models, then enrich batches sent over ``conn`` until None arrives."""
    import signal  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    try:
        from workers.pipeline import Enricher  # noqa: PLC0415

        enricher = Enricher(settings)
        # The first NER call of a process is slow (lazy initialisation): pay it before "ready",
        # outside any article's budget.
        enricher.enrich_many([{"id": "warm-up", "title": None, "text": _WARM_UP}])
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", dict(enricher.versions)))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        articles, received_at = request

        def progress(stage: str, index: int, _articles: Sequence[dict[str, Any]] = articles) -> None:
            conn.send(("progress", stage, index))
            if slow_marker and stage == "restore" and slow_marker in (_articles[index].get("text") or ""):
                _spin_forever()

        results = enricher.enrich_many(articles, received_at=received_at, progress=progress)
        conn.send(("done", [_to_wire(r) for r in results]))


# ----------------------------------------------------------------------------------- the parent


class _Child:
    """One running child process and the parent's end of its pipe."""

    def __init__(self, settings: Settings, load_timeout_s: float) -> None:
        ctx = _mp_context()
        slow_marker = os.environ.get(SLOW_MARKER_ENV) or None
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_child_main, args=(child_conn, settings, slow_marker), name="unspun-enrich", daemon=True)
        self.process.start()
        child_conn.close()
        if not self.conn.poll(load_timeout_s):
            self.kill()
            raise EnrichmentProcessError(f"the enrichment process did not load the models within {load_timeout_s:.0f} s")
        try:
            message = self.conn.recv()
        except EOFError:
            self.kill()
            raise EnrichmentProcessError(
                f"the enrichment process exited while loading the models (exit code {self.process.exitcode})"
            ) from None
        if message[0] != "ready":
            self.kill()
            raise EnrichmentProcessError(f"the enrichment process could not load the models: {message[1]}")
        self.versions: dict[str, str] = message[1]

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()

    def close(self, timeout_s: float = 5.0) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=timeout_s)
        self.kill()


class IsolatedEnricher:
    """An Enricher in a child process with a per-article time budget (see the module docstring).

    Same interface as :class:`workers.pipeline.Enricher` for the stream: ``versions``, ``ready``,
    ``enrich_many(articles, received_at=...)``. Calls must not overlap (the worker makes them
    from its single processing thread). ``close()`` stops the child.

    Args:
        settings: worker settings; ``article_timeout_s`` is the budget (<= 0: none).
        load_timeout_s: longest wait for a child to load the models, seconds.

    Raises:
        EnrichmentProcessError: the first child could not load the models.
    """

    def __init__(self, settings: Settings, load_timeout_s: float = 300.0) -> None:
        self.settings = settings
        self.budget_s = settings.article_timeout_s if settings.article_timeout_s > 0 else None
        self.load_timeout_s = load_timeout_s
        self.restarts = 0
        self._child: _Child | None = _Child(settings, load_timeout_s)
        self.versions = dict(self._child.versions)
        self.ready = True

    @property
    def pid(self) -> int | None:
        """Process id of the current child (None when none is running)."""
        return self._child.process.pid if self._child is not None else None

    def close(self) -> None:
        """Stop the child process (it finishes nothing in flight: call between batches)."""
        child, self._child = self._child, None
        if child is not None:
            child.close()

    def _ensure_child(self) -> _Child:
        if self._child is None:
            started = time.perf_counter()
            self._child = _Child(self.settings, self.load_timeout_s)
            self.restarts += 1
            log.info("enrichment process restarted (pid %d) in %.1f s", self._child.process.pid, time.perf_counter() - started)
        return self._child

    def _discard_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.kill()

    def enrich_many(self, articles: Sequence[dict[str, Any]], received_at: Sequence[float] | None = None) -> list[Any]:
        """Per article, in order: an enriched event dict or a ``Rejected`` (kinds as
        ``Enricher.enrich_many``, plus ``timeout``, and ``processing_error`` when the child died)."""
        received = list(received_at) if received_at is not None else [time.time()] * len(articles)
        results: list[Any] = [None] * len(articles)
        self._run(list(range(len(articles))), articles, received, results)
        return results

    def _run(self, todo: list[int], articles: Sequence[dict[str, Any]], received: list[float], results: list[Any]) -> None:
        """Enrich ``articles[i] for i in todo`` into ``results``; removes culprits and retries."""
        while todo:
            child = self._ensure_child()
            outcome = self._attempt(child, [articles[i] for i in todo], [received[i] for i in todo])
            status = outcome[0]
            if status == "done":
                for i, result in zip(todo, outcome[1]):
                    results[i] = _from_wire(result)
                return
            # The child is gone (killed after a timeout, or died): find whom to blame.
            self._discard_child()
            stage, position = outcome[1], outcome[2]
            if stage == "restore" and position is not None:
                culprit = todo[position]
                results[culprit] = self._failure(status, articles[culprit], "restoration")
                todo = todo[:position] + todo[position + 1 :]
                continue
            if len(todo) == 1:
                results[todo[0]] = self._failure(status, articles[todo[0]], "entity extraction" if stage == "ner" else "enrichment")
                return
            for i in todo:  # NER of the batch (or an unknown stage) failed: one at a time
                self._run([i], articles, received, results)
            return

    def _failure(self, status: str, article: dict[str, Any], stage: str) -> Rejected:
        article_id = article.get("id")
        if status == "timeout":
            log.warning("article %s: %s ran over the %.1f s budget; dead-lettered as timeout", article_id, stage, self.budget_s)
            return Rejected(
                "timeout",
                f"{stage} took longer than the {self.budget_s:g} s budget per article (UNSPUN_ARTICLE_TIMEOUT_S)",
                article_id,
            )
        log.error("article %s: the enrichment process died during %s (%s)", article_id, stage, status)
        return Rejected("processing_error", f"the enrichment process died during {stage} ({status})", article_id, "ChildProcessError")

    def _attempt(self, child: _Child, batch: list[dict[str, Any]], received: list[float]) -> tuple[Any, ...]:
        """Send one batch; returns ("done", results) or (status, stage, position) when the child
        ran over the budget (status "timeout") or died (status "died: ...")."""
        stage, position = "send", None
        try:
            child.conn.send((batch, received))
        except (OSError, ValueError) as exc:
            return (f"died: {exc}", stage, position)
        stage_started = time.monotonic()
        stage_budget = self.budget_s
        while True:
            if stage_budget is None:
                wait = None
            else:
                wait = max(0.0, stage_budget - (time.monotonic() - stage_started))
            try:
                ready = child.conn.poll(wait)
            except (OSError, ValueError) as exc:
                return (f"died: {exc}", stage, position)
            if not ready:
                return ("timeout", stage, position)
            try:
                message = child.conn.recv()
            except (EOFError, OSError) as exc:
                child.process.join(timeout=5)
                return (f"died: exit code {child.process.exitcode}" if isinstance(exc, EOFError) else f"died: {exc}", stage, position)
            if message[0] == "done":
                return ("done", message[1])
            _, stage, index = message
            position = index if stage == "restore" else None
            # NER runs over the batch at once: its deadline is the budget of each article in it.
            stage_budget = self.budget_s if stage == "restore" or self.budget_s is None else self.budget_s * max(1, index)
            stage_started = time.monotonic()
