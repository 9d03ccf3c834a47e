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
* a child that dies (crash, out of memory) is replaced and the article it was working on is
  tried once more in the fresh child: only an article that kills two children is a poison pill
  and gets ``processing_error``; the others of the batch are enriched as usual.

So a timed-out article costs its budget plus a model reload (about 4 s); other articles are
never lost or failed because of it. ``UNSPUN_ARTICLE_TIMEOUT_S`` <= 0 disables the budget.

spaCy's vocabulary and string store keep every new word they see, so a child that runs for ever
grows for ever (names and numbers are new all the time). After ``UNSPUN_NER_RECYCLE_ARTICLES``
articles the child is stopped between two batches and a fresh one started (0: never); the next
batch waits for its models (about 2-4 s), nothing is lost or enriched twice.

Children are made by a ``forkserver`` (safe with the worker's threads) that has the heavy modules
imported already, so a replacement only loads the models. A child exits as soon as the worker is
gone, however it ended (see :func:`_exit_with_worker`), and the forkserver exits once no child
is left.

Test-only hooks, read from the worker's environment; leave them unset in production:

* ``UNSPUN_TEST_SLOW_MARKER``: the child spins (CPU-bound, never returning) on any article whose
  text contains that string, to exercise the budget;
* ``UNSPUN_TEST_CRASH_MARKER``: the child kills itself (SIGKILL, as the out-of-memory killer
  would) while restoring an article whose text contains that string; when the string is followed
  by ``:once`` it does so only the first time the worker's children see that article.
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

__all__ = ["CRASH_MARKER_ENV", "EnrichmentProcessError", "IsolatedEnricher", "SLOW_MARKER_ENV"]

log = logging.getLogger(__name__)

#: Environment variable of the test-only slow-article hook (see the module docstring).
SLOW_MARKER_ENV = "UNSPUN_TEST_SLOW_MARKER"
#: Environment variable of the test-only crashing-article hook (see the module docstring).
CRASH_MARKER_ENV = "UNSPUN_TEST_CRASH_MARKER"
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
    """Have the kernel kill this process when its parent (the forkserver) dies (Linux only)."""
    try:
        import ctypes  # noqa: PLC0415
        import signal  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the watchdog below still ends the child
        pass


def _exit_with_worker(worker_pid: int, poll_s: float = 0.5) -> None:
    """End this child as soon as the worker process ``worker_pid`` is gone, whatever killed it.

    The child's parent is the forkserver, not the worker, and the forkserver exits only when no
    process holds its liveness pipe any more, which every child does: a child busy on an article
    would keep itself and the forkserver running for good after a ``kill -9`` of the worker. A
    daemon thread waits on a pidfd of the worker (Linux 5.3+; elsewhere it polls every ``poll_s``
    seconds) and exits the process when the worker ends; the forkserver then exits too.
    """
    import select  # noqa: PLC0415

    def gone() -> bool:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def watch() -> None:
        try:
            pidfd = os.pidfd_open(worker_pid)
        except (AttributeError, OSError):
            pidfd = None
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the worker has exited
        else:
            while not gone():
                time.sleep(poll_s)
        os._exit(3)  # noqa: SLF001 - no clean-up: the worker that would read our results is gone

    if gone():
        os._exit(3)  # noqa: SLF001
    threading.Thread(target=watch, name="unspun-worker-watchdog", daemon=True).start()


def _crash_once_seen(marker: str, text: str) -> bool:
    """Test-only hook state: True when a child of this worker already died on ``text``; records
    it otherwise (a file named by the forkserver's pid and the text, in the temporary folder)."""
    import hashlib  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    digest = hashlib.sha256(f"{os.getppid()}\0{marker}\0{text}".encode("utf-8", "replace")).hexdigest()[:24]
    path = os.path.join(tempfile.gettempdir(), f"unspun-test-crash-{digest}")
    if os.path.exists(path):
        return True
    with open(path, "w"):
        pass
    return False


def _test_hooks(text: str, slow_marker: str | None, crash_marker: str | None) -> None:
    """The test-only hooks of the module docstring, for one article's text."""
    if slow_marker and slow_marker in text:
        _spin_forever()
    if crash_marker and crash_marker in text:
        if f"{crash_marker}:once" in text and _crash_once_seen(crash_marker, text):
            return
        import signal  # noqa: PLC0415

        os.kill(os.getpid(), signal.SIGKILL)


def _vocab_sizes(enricher: Any) -> dict[str, int]:
    """Entries in the NER pipeline's vocabulary and string store (what grows with new words)."""
    try:
        vocab = enricher.extractor.nlp.vocab
        return {"vocab": len(vocab), "strings": len(vocab.strings)}
    except AttributeError:
        return {}


def _child_main(
    conn: Any, settings: Settings, worker_pid: int, slow_marker: str | None = None, crash_marker: str | None = None
) -> None:
    """Child process: load the models, then enrich batches sent over ``conn`` until None arrives."""
    import signal  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    _exit_with_worker(worker_pid)
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
        if isinstance(request, dict):  # {"family": name, "entries": [...]}: see IsolatedEnricher.update_family
            conn.send(("family", enricher.update_family(request["family"], request["entries"])))
            continue
        articles, received_at = request

        def progress(stage: str, index: int, _articles: Sequence[dict[str, Any]] = articles) -> None:
            conn.send(("progress", stage, index))
            if stage == "restore" and (slow_marker or crash_marker):
                _test_hooks(_articles[index].get("text") or "", slow_marker, crash_marker)

        results = enricher.enrich_many(articles, received_at=received_at, progress=progress)
        conn.send(("done", [_to_wire(r) for r in results], _vocab_sizes(enricher)))


# ----------------------------------------------------------------------------------- the parent


class _Child:
    """One child process and the parent's end of its pipe: started by the constructor, usable
    once :meth:`wait_ready` returned (so a replacement can load while the worker sends)."""

    def __init__(self, settings: Settings) -> None:
        ctx = _mp_context()
        hooks = (os.environ.get(SLOW_MARKER_ENV) or None, os.environ.get(CRASH_MARKER_ENV) or None)
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_child_main, args=(child_conn, settings, os.getpid(), *hooks), name="unspun-enrich", daemon=True
        )
        self.process.start()
        child_conn.close()
        self.started = time.perf_counter()
        self.versions: dict[str, str] | None = None
        #: Articles sent to this child so far.
        self.articles = 0

    def wait_ready(self, load_timeout_s: float) -> None:
        """Wait until the child has loaded the models (idempotent).

        Raises:
            EnrichmentProcessError: the child did not load them in time, failed, or exited.
        """
        if self.versions is not None:
            return
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
        self.versions = message[1]

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
        settings: worker settings; ``article_timeout_s`` is the budget (<= 0: none),
            ``ner_recycle_articles`` the articles after which the child is replaced (0: never).
        load_timeout_s: longest wait for a child to load the models, seconds.
        wait: wait for the first child to load the models before returning; with False the
            caller waits with :meth:`wait_loaded` and may :meth:`stop_loading` meanwhile.

    Attributes:
        restarts: children started after the first one (after a timeout, a death or a recycle).
        recycles: of those, the ones started because of ``ner_recycle_articles``.
        vocab_sizes: ``{"vocab": n, "strings": n}`` of the current child's NER pipeline after
            its last batch (entries of spaCy's vocabulary and string store).

    Raises:
        EnrichmentProcessError: the first child could not load the models (with ``wait``).
    """

    def __init__(self, settings: Settings, load_timeout_s: float = 300.0, *, wait: bool = True) -> None:
        self.settings = settings
        self.budget_s = settings.article_timeout_s if settings.article_timeout_s > 0 else None
        self.recycle_after = max(0, settings.ner_recycle_articles)
        self.load_timeout_s = load_timeout_s
        self.restarts = 0
        self.recycles = 0
        self.vocab_sizes: dict[str, int] = {}
        self._families: dict[str, list[Any]] = {}
        self.versions: dict[str, str] = {}
        self.ready = False
        self._child: _Child | None = _Child(settings)
        if wait:
            self.wait_loaded()

    def wait_loaded(self) -> None:
        """Wait until the first child has loaded the models; then ``ready`` is True.

        Raises:
            EnrichmentProcessError: the child could not load them, did not in time, or was
                stopped by :meth:`stop_loading`.
        """
        child = self._child
        if child is None:
            raise EnrichmentProcessError("the enrichment process was stopped before it loaded the models")
        child.wait_ready(self.load_timeout_s)
        self.versions = dict(child.versions or {})
        self.ready = True

    def stop_loading(self) -> bool:
        """Kill the first child if it is still loading the models (safe from another thread
        than the one in :meth:`wait_loaded`, which then raises). Returns True when it was loading."""
        child = self._child
        if self.ready or child is None or child.versions is not None:
            return False
        child.process.kill()
        return True

    def update_family(self, name: str, entries: list[Any]) -> int:
        """Give the child's restorer the spinner family ``name`` (``Enricher.update_family``); a
        replacement child gets it too. Call between batches. Returns the number of entries."""
        self._families[name] = list(entries)
        return self._send_family(self._ensure_child(), name)

    def _send_family(self, child: _Child, name: str) -> int:
        child.conn.send({"family": name, "entries": self._families[name]})
        reply = child.conn.recv()
        return int(reply[1])

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
            self._child = _Child(self.settings)
            self.restarts += 1
        child = self._child
        if child.versions is None:
            child.wait_ready(self.load_timeout_s)
            for name in self._families:
                self._send_family(child, name)
            log.info("enrichment process restarted (pid %d) in %.1f s", child.process.pid, time.perf_counter() - child.started)
        return child

    def _discard_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.kill()

    def _recycle_if_due(self) -> None:
        """Replace the child once it has seen ``ner_recycle_articles`` articles. Called between
        batches: the old child has finished its work, the new one loads while the worker sends."""
        child = self._child
        if child is None or not self.recycle_after or child.articles < self.recycle_after:
            return
        log.info(
            "recycling the enrichment process after %d articles (UNSPUN_NER_RECYCLE_ARTICLES=%d; vocabulary %s, strings %s)",
            child.articles, self.recycle_after, self.vocab_sizes.get("vocab", "?"), self.vocab_sizes.get("strings", "?"),
        )
        self._child = None
        child.close()
        self._child = _Child(self.settings)
        self.restarts += 1
        self.recycles += 1

    def enrich_many(self, articles: Sequence[dict[str, Any]], received_at: Sequence[float] | None = None) -> list[Any]:
        """Per article, in order: an enriched event dict or a ``Rejected`` (kinds as
        ``Enricher.enrich_many``, plus ``timeout``, and ``processing_error`` when the article
        killed two children)."""
        received = list(received_at) if received_at is not None else [time.time()] * len(articles)
        results: list[Any] = [None] * len(articles)
        self._run(list(range(len(articles))), articles, received, results, deaths={})
        self._recycle_if_due()
        return results

    def _run(
        self, todo: list[int], articles: Sequence[dict[str, Any]], received: list[float], results: list[Any], deaths: dict[int, int]
    ) -> None:
        """Enrich ``articles[i] for i in todo`` into ``results``; removes culprits and retries.

        ``deaths`` counts, per article index, the children that died on it: an article gets a
        second chance in a fresh child (the first death may have had another cause, such as the
        out-of-memory killer choosing the child for the worker's sake), not a third.
        """
        while todo:
            child = self._ensure_child()
            child.articles += len(todo)
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
                if self._retry(status, culprit, articles[culprit], deaths, "restoration"):
                    continue
                results[culprit] = self._failure(status, articles[culprit], "restoration")
                todo = todo[:position] + todo[position + 1 :]
                continue
            if len(todo) == 1:
                stage_name = "entity extraction" if stage == "ner" else "enrichment"
                if self._retry(status, todo[0], articles[todo[0]], deaths, stage_name):
                    continue
                results[todo[0]] = self._failure(status, articles[todo[0]], stage_name)
                return
            for i in todo:  # NER of the batch (or an unknown stage) failed: one at a time
                self._run([i], articles, received, results, deaths)
            return

    @staticmethod
    def _retry(status: str, index: int, article: dict[str, Any], deaths: dict[int, int], stage: str) -> bool:
        """True when the article should be tried again: its first child death (not a timeout)."""
        if status == "timeout":
            return False
        deaths[index] = deaths.get(index, 0) + 1
        if deaths[index] > 1:
            return False
        log.warning("article %s: the enrichment process died during %s (%s); trying it once more in a fresh process", article.get("id"), stage, status)
        return True

    def _failure(self, status: str, article: dict[str, Any], stage: str) -> Rejected:
        article_id = article.get("id")
        if status == "timeout":
            log.warning("article %s: %s ran over the %.1f s budget; dead-lettered as timeout", article_id, stage, self.budget_s)
            return Rejected(
                "timeout",
                f"{stage} took longer than the {self.budget_s:g} s budget per article (UNSPUN_ARTICLE_TIMEOUT_S)",
                article_id,
            )
        log.error("article %s: the enrichment process died twice during %s (%s); dead-lettered", article_id, stage, status)
        return Rejected(
            "processing_error",
            f"the enrichment process died during {stage} of this article twice, in two fresh processes ({status}): "
            "a poison pill",
            article_id,
            "ChildProcessError",
        )

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
                self.vocab_sizes = message[2]
                return ("done", message[1])
            _, stage, index = message
            position = index if stage == "restore" else None
            # NER runs over the batch at once: its deadline is the budget of each article in it.
            stage_budget = self.budget_s if stage == "restore" or self.budget_s is None else self.budget_s * max(1, index)
            stage_started = time.monotonic()
