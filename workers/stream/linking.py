"""Kafka glue of linking (``UNSPUN_LINKING``): the link index fed from the fingerprints topic, the
learned pairs fed from the learned topic, and the per-batch lookup the agent calls.

How the index lives on Kafka:

* every enriched article yields a record on the fingerprints topic (``fingerprint.v1``: id, LSH band
  keys, text); every worker reads that whole topic, with no consumer group, into its own
  :class:`~workers.linking.index.LinkIndex`, which keeps only band keys and each record's
  (partition, offset). A link fetches the matching record back by offset for the source's wording.
  So every worker links against the articles of all workers, the index is rebuilt from Kafka after a
  restart, and memory per worker is bounded by the window (``UNSPUN_LINKING_WINDOW_S``,
  ``UNSPUN_LINKING_MAX_ARTICLES``), not by the stream's length.
* after a restart the worker waits, before its first batch, until the reader has met the end of the
  fingerprints topic (a fetch that returns nothing), at most ``UNSPUN_LINKING_CATCHUP_TIMEOUT_S``.
  The end is found by reading, not by asking the broker for the latest offsets, because the embedded
  broker's ``ListOffsets`` for the latest offset can be wrong.
* observed substitutions go to the compacted learned topic keyed by pair and article; every worker
  reads it and counts distinct articles per pair (:class:`~workers.linking.learn.PairCounter`); the
  pairs that reach ``UNSPUN_LEARN_MIN_ARTICLES`` are handed to the restorer as its ``learned`` family.

Known limit: two workers that take a source and its copy within the same fraction of a second (before
either's fingerprint reached the other) do not link them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from mode import Service

from workers.linking.fingerprint import Fingerprint, fingerprint, shingles
from workers.linking.index import LinkIndex, Ref
from workers.linking.learn import LEARNED_FAMILY, PairCounter
from workers.settings import Settings
from workers.stream import metrics
from workers.stream.kafka import client_kwargs
from workers.timestamps import utc_iso

log = logging.getLogger(__name__)

METHOD = "minhash-immutables"
_GAP = "\n\n"
_CACHE = 2048  # fingerprint records kept in memory for links (about 5 KB each)
# A candidate's record is fetched when its sketch estimate is within this of UNSPUN_LINKING_SIMILARITY:
# three standard errors of a 96-permutation estimate near 0.4, so a true link is almost never skipped.
_ESTIMATE_MARGIN = 0.15


def _joined(title: Any, text: str) -> str:
    return f"{title}{_GAP}{text}" if title else text


@dataclass
class Extra:
    """A record sent with a batch's outputs: ``topic`` is ``fingerprints``, ``links`` or ``learned``;
    ``bands``, ``sketch`` and ``time`` are set for fingerprints (indexed once the broker acknowledged them)."""

    topic: str
    key: bytes
    value: bytes
    bands: tuple[int, ...] = ()
    sketch: bytes = b""
    time: float = 0.0


class Linker(Service):
    """The link index, the learned-pair counts and the readers of their topics (see the module docstring).

    ``link_batch`` runs in the worker's processing thread; the readers run on the event loop; a lock
    keeps the index consistent between them.
    """

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.settings = settings
        self.index = LinkIndex(settings.linking_window_s, settings.linking_max_articles, settings.linking_num_perm)
        self.counter = PairCounter(settings.learn_min_articles)
        self.learned_version = 0
        self._lock = threading.Lock()
        self._cache: OrderedDict[Ref, dict] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._caught_up: asyncio.Event | None = None
        self._fetcher: Any = None
        self._fetch_lock: asyncio.Lock | None = None
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ service
    async def on_start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._caught_up = asyncio.Event()
        self._fetch_lock = asyncio.Lock()
        self.add_future(self._read(self.settings.fingerprints_topic, self._on_fingerprint, self._caught_up))
        self.add_future(self._read(self.settings.learned_topic, self._on_learned, None))

    async def on_stop(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.stop()

    def _consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer  # noqa: PLC0415

        return AIOKafkaConsumer(
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            **client_kwargs(self.settings),
        )

    async def _assign(self, consumer: Any, topic: str) -> list[Any]:
        from aiokafka import TopicPartition  # noqa: PLC0415

        while True:
            parts = consumer.partitions_for_topic(topic)
            if parts:
                tps = [TopicPartition(topic, p) for p in sorted(parts)]
                consumer.assign(tps)
                return tps
            await consumer._client.force_metadata_update()  # noqa: SLF001 - the topic may be new
            await asyncio.sleep(0.2)

    async def _read(self, topic: str, handle: Any, caught_up: asyncio.Event | None) -> None:
        """Read ``topic`` from the beginning for as long as the worker runs, ``handle`` each record;
        set ``caught_up`` at the first fetch that returns nothing (the end of the topic)."""
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = await self._assign(consumer, topic)
            await consumer.seek_to_beginning(*tps)
            read, started = 0, time.monotonic()
            while not self.should_stop:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                records = [r for rs in batch.values() for r in rs]
                for r in records:
                    try:
                        handle(r)
                    except Exception as exc:  # noqa: BLE001 - one bad record must not stop linking
                        log.warning("skipping record %s[%d]@%d: %s: %s", r.topic, r.partition, r.offset, type(exc).__name__, exc)
                read += len(records)
                if not records and caught_up is not None and not caught_up.is_set():
                    caught_up.set()
                    log.info("link index read %d fingerprints in %.1f s", read, time.monotonic() - started)
        finally:
            await consumer.stop()

    def _on_fingerprint(self, r: Any) -> None:
        record = orjson.loads(r.value)
        if record["time"] < time.time() - self.settings.linking_window_s or "sketch" not in record:
            return  # too old, or written by an earlier fingerprint layout whose bands cannot match
        ref = Ref(r.partition, r.offset)
        with self._lock:
            self.index.add(record["bands"], ref, record["time"], bytes.fromhex(record["sketch"]))
            self._remember(ref, record)
            metrics.LINK_INDEX_ARTICLES.set(len(self.index))

    def _on_learned(self, r: Any) -> None:
        o = orjson.loads(r.value)
        if self.counter.add(o["spun"], o["original"], o["article"]):
            self.learned_version += 1
            metrics.LEARNED_PAIRS.set(len(self.counter.learned))

    def _remember(self, ref: Ref, record: dict) -> None:
        self._cache[ref] = record
        self._cache.move_to_end(ref)
        while len(self._cache) > _CACHE:
            self._cache.popitem(last=False)

    async def wait_caught_up(self) -> None:
        """Wait until the index has read the fingerprints topic to its end, at most
        ``UNSPUN_LINKING_CATCHUP_TIMEOUT_S`` (then link with what was read)."""
        if self._caught_up is None or self._caught_up.is_set():
            return
        try:
            await asyncio.wait_for(self._caught_up.wait(), self.settings.linking_catchup_timeout_s)
        except asyncio.TimeoutError:
            log.warning("the link index did not reach the end of %s in %.0f s; linking with what it read",
                        self.settings.fingerprints_topic, self.settings.linking_catchup_timeout_s)
            self._caught_up.set()

    async def _fetch(self, refs: list[Ref]) -> list[dict | None]:
        """Fingerprint records by (partition, offset), from the cache or the broker (None when gone)."""
        from aiokafka import TopicPartition  # noqa: PLC0415

        assert self._fetch_lock is not None
        async with self._fetch_lock:
            out: list[dict | None] = []
            for ref in refs:
                with self._lock:
                    record = self._cache.get(ref)
                if record is None:
                    if self._fetcher is None:
                        self._fetcher = self._consumer()
                        await self._fetcher.start()
                        await self._assign(self._fetcher, self.settings.fingerprints_topic)
                    tp = TopicPartition(self.settings.fingerprints_topic, ref.partition)
                    self._fetcher.seek(tp, ref.offset)
                    batch = await self._fetcher.getmany(tp, timeout_ms=2000, max_records=1)
                    got = [r for r in batch.get(tp, []) if r.offset == ref.offset]
                    record = orjson.loads(got[0].value) if got else None
                out.append(record)
            return out

    # ------------------------------------------------------------------ per batch
    def _fingerprint(self, title: Any, text: str) -> Fingerprint:
        s = self.settings
        return fingerprint(_joined(title, text), num_perm=s.linking_num_perm, threshold=s.linking_lsh_threshold)

    def link_batch(self, articles: list[dict[str, Any]]) -> list[Fingerprint]:
        """Fingerprint each article and, when an earlier article (in the index or earlier in this batch)
        is similar enough, put it on the article as ``_link`` (id, title, text, similarity, method) for
        the Enricher. Called from the processing thread; fetches records through the event loop.
        Returns the fingerprints, in order."""
        fps: list[Fingerprint] = []
        for i, article in enumerate(articles):
            fp = self._fingerprint(article.get("title"), article["text"])
            floor = max(0.0, self.settings.linking_similarity - _ESTIMATE_MARGIN)
            with self._lock:
                hits = self.index.query(fp.bands, fp.sketch, min_similarity=floor, limit=2)
            records: list[dict | None] = []
            if hits:
                assert self._loop is not None
                future = asyncio.run_coroutine_threadsafe(self._fetch([h.ref for h in hits]), self._loop)
                records = future.result(timeout=30)
            candidates = [
                {"id": r["id"], "title": r.get("title"), "text": r["text"], "shingles": shingles(_joined(r.get("title"), r["text"]))}
                for r in records if r is not None
            ]
            candidates += [
                {"id": a["id"], "title": a.get("title"), "text": a["text"], "shingles": f.shingles}
                for a, f in zip(articles[:i], fps) if set(f.bands) & set(fp.bands)
            ]
            best, best_sim = None, 0.0
            for c in candidates:
                sim = fp.jaccard(Fingerprint(c["shingles"], ()))
                if c["id"] != article["id"] and sim > best_sim:
                    best, best_sim = c, sim
            if best is not None and best_sim >= self.settings.linking_similarity:
                article["_link"] = {"id": best["id"], "title": best["title"], "text": best["text"], "similarity": best_sim, "method": METHOD}
            fps.append(fp)
        return fps

    def extras(self, event: dict[str, Any], fp: Fingerprint) -> list[Extra]:
        """The records an enriched event adds (its private ``_links`` and ``_learned`` are removed from
        it): its fingerprint, a link record when it is the later-seen source of an earlier copy, and
        its observed substitutions."""
        now = time.time()
        copy_of = event.get("copy_of")
        record = {
            "schema": "unspun.fingerprint.v1",
            "id": copy_of["id"] if copy_of else event["id"],
            "copy": event["id"] if copy_of else None,
            "bands": list(fp.bands),
            "sketch": fp.sketch.hex(),
            "title": event.get("restored_title") if copy_of else event.get("title"),
            "text": event["restored_text"] if copy_of else event["text"],
            "time": now,
        }
        out = [Extra("fingerprints", event["id"].encode(), orjson.dumps(record), fp.bands, fp.sketch, now)]
        for link in event.pop("_links", ()):
            value = {"schema": "unspun.link.v1", **link, "linked_at": utc_iso(now)}
            out.append(Extra("links", link["copy"].encode(), orjson.dumps(value)))
        for o in event.pop("_learned", ()):
            value = {"schema": "unspun.learned.v1", **o}
            out.append(Extra("learned", f"{o['spun']}\t{o['original']}\t{o['article']}".encode(), orjson.dumps(value)))
        return out

    def sent(self, extra: Extra, partition: int, offset: int) -> None:
        """Index a fingerprint this worker sent, once acknowledged, ahead of its topic reader."""
        if extra.topic != "fingerprints":
            if extra.topic == "links":
                metrics.LINKS.labels(order="source_after_copy").inc()
            return
        ref = Ref(partition, offset)
        with self._lock:
            self.index.add(extra.bands, ref, extra.time, extra.sketch, ahead=True)
            self._remember(ref, orjson.loads(extra.value))

    def learned_entries(self) -> list:
        """The learned pairs as table entries of the ``learned`` family."""
        return self.counter.entries()


__all__ = ["Extra", "LEARNED_FAMILY", "Linker", "METHOD"]
