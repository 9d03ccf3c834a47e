"""An in-memory LSH index of fingerprints with a retention window and bounded memory.

The index answers "which earlier articles share LSH bands with this one, and how similar are they?"
and stores, per article, only where its fingerprint record lives in Kafka (partition, offset), when it
arrived and its sketch (one byte per MinHash permutation): the text itself stays in Kafka and is
fetched only for candidates whose estimated similarity passes. Band keys are kept in
sorted numpy arrays (key, slot), 12 bytes per band, split into 32 shards by the key's top bits, plus a
small dict of recent keys that is merged into them in bulk (each shard copied once per merge, so the
transient memory of a merge is one shard's); datasketch's own dict storage would cost a few hundred
bytes per band key.
"""

from __future__ import annotations

from array import array
from typing import NamedTuple, Sequence

import numpy as np


class Ref(NamedTuple):
    """Where an indexed article's fingerprint record is: Kafka ``partition`` and ``offset``."""

    partition: int
    offset: int


class Candidate(NamedTuple):
    """A query hit: the article's ``ref``, how many LSH ``bands`` it shares with the query and the
    Jaccard ``similarity`` estimated from the two sketches (0 without sketches)."""

    ref: Ref
    bands: int
    similarity: float = 0.0


_SHARD_BITS = 5  # 32 shards of the sorted band keys, by their top bits


class LinkIndex:
    """LSH band index of the articles of a retention window.

    ``window_s``: articles older than this (seconds, by their timestamp) are evicted; ``max_articles``:
    at most this many are kept (the oldest go first); ``sketch_len``: bytes of each article's sketch
    (the fingerprints' number of permutations; 0 keeps none). Memory: about 12 bytes per band key, the sketch
    (one byte per permutation) and 18 bytes per article (see ``nbytes``). Not thread-safe: one owner
    adds and queries.
    """

    def __init__(self, window_s: float, max_articles: int, sketch_len: int = 0, merge_min: int = 50_000) -> None:
        self.window_s = window_s
        self.max_articles = max_articles
        self._merge_min = merge_min
        self._keys = [np.empty(0, np.uint64) for _ in range(1 << _SHARD_BITS)]
        self._slots = [np.empty(0, np.uint32) for _ in range(1 << _SHARD_BITS)]
        self._recent: dict[int, list[int]] = {}
        self._recent_n = 0
        self._sorted_n = 0
        self._base = 0  # slot number of _partitions[0]; lower slots are evicted
        self._partitions = array("h")
        self._offsets = array("q")
        self._times = array("d")
        self._sketches = bytearray()
        self._sketch_len = sketch_len
        self._seen: set[Ref] = set()  # refs added ahead of the topic reader (see add)

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def nbytes(self) -> int:
        """Approximate memory held, bytes (arrays exactly; the recent dict at about 100 bytes a key)."""
        arrays = sum(k.nbytes for k in self._keys) + sum(x.nbytes for x in self._slots)
        refs = sum(a.buffer_info()[1] * a.itemsize for a in (self._partitions, self._offsets, self._times))
        return arrays + refs + len(self._sketches) + 100 * self._recent_n + 200 * len(self._seen)

    def add(self, bands: Sequence[int], ref: Ref, timestamp: float, sketch: bytes = b"", *, ahead: bool = False) -> bool:
        """Index an article's band keys and ``sketch`` under ``ref`` (``timestamp``: seconds since the
        epoch); the sketch is cut or padded to the index's ``sketch_len``.

        ``ahead=True`` marks an article added by the worker that produced it before its own topic reader
        meets it; the reader's later ``add`` of the same ref is then skipped. Returns False when skipped.
        """
        if ref in self._seen:
            if not ahead:
                self._seen.discard(ref)
            return False
        if ahead:
            if len(self._seen) > 100_000:  # the reader should have met these long ago
                self._seen.clear()
            self._seen.add(ref)
        slot = self._base + len(self._offsets)
        self._partitions.append(ref.partition)
        self._offsets.append(ref.offset)
        self._times.append(timestamp)
        self._sketches += sketch[: self._sketch_len].ljust(self._sketch_len, b"\0")
        keys = dict.fromkeys(bands)  # a key's slots stay distinct, so a query counts an article once per key
        for key in keys:
            self._recent.setdefault(key, []).append(slot)
        self._recent_n += len(keys)
        self.evict(timestamp)
        # Merging copies every shard once: wait for 1/64 of the index (or merge_min keys) to come in,
        # so a band key is copied about 64 times in all and the recent dict stays small.
        if self._recent_n >= max(self._merge_min, self._sorted_n // 64):
            self._merge()
        return True

    def evict(self, now: float) -> None:
        """Drop the oldest articles beyond ``max_articles`` or older than ``now - window_s``."""
        drop = max(0, len(self._offsets) - self.max_articles)
        cutoff = now - self.window_s
        while drop < len(self._times) and self._times[drop] < cutoff:
            drop += 1
        if drop:
            self._base += drop
            del self._partitions[:drop], self._offsets[:drop], self._times[:drop]
            del self._sketches[: drop * self._sketch_len]

    def _merge(self) -> None:
        """Move the recent keys into the sorted shards, dropping evicted slots (one copy of each shard)."""
        n = self._recent_n
        keys = np.empty(n, np.uint64)
        slots = np.empty(n, np.uint32)
        i = 0
        for key, ss in self._recent.items():
            keys[i : i + len(ss)] = key
            slots[i : i + len(ss)] = ss
            i += len(ss)
        order = np.argsort(keys, kind="stable")
        keys, slots = keys[order], slots[order]
        shard_of = (keys >> np.uint64(64 - _SHARD_BITS)).astype(np.int64)
        bounds = np.searchsorted(shard_of, np.arange((1 << _SHARD_BITS) + 1))
        for sh in range(1 << _SHARD_BITS):
            old_k, old_s = self._keys[sh], self._slots[sh]
            live = old_s >= self._base
            if not live.all():
                old_k, old_s = old_k[live], old_s[live]
            new_k, new_s = keys[bounds[sh] : bounds[sh + 1]], slots[bounds[sh] : bounds[sh + 1]]
            at = np.searchsorted(old_k, new_k, "right")
            self._keys[sh], self._slots[sh] = np.insert(old_k, at, new_k), np.insert(old_s, at, new_s)
        self._recent.clear()
        self._recent_n = 0
        self._sorted_n = sum(len(k) for k in self._keys)

    def query(self, bands: Sequence[int], sketch: bytes = b"", *, min_similarity: float = 0.0, limit: int = 3) -> list[Candidate]:
        """Indexed articles sharing a band key with ``bands`` whose similarity estimated from the
        sketches is at least ``min_similarity``; the most similar first (then the most shared bands,
        then the most recent), at most ``limit``.

        ``bands``: unsigned 64-bit keys (OverflowError for others); a key given twice counts twice.
        The similarities are :func:`~workers.linking.fingerprint.sketch_similarity` of the first
        ``sketch_len`` bytes of ``sketch`` and each candidate's sketch, computed for all candidates at
        once (an (m, sketch_len) byte array for m candidates); 0 for every candidate when ``sketch`` is
        shorter than ``sketch_len`` or the index keeps no sketches."""
        found = []  # the slots holding each band key; a key's slots are distinct (see add)
        # Searched as numpy uint64: a Python int below 2**63 made searchsorted compare in float64 (a copy
        # of the shard per search, and neighbouring keys that round alike counted as the same key).
        for key, k in zip(bands, np.asarray(bands, np.uint64)):
            sh = key >> (64 - _SHARD_BITS)
            keys = self._keys[sh]
            a, b = keys.searchsorted(k, "left"), keys.searchsorted(k, "right")
            if b > a:
                found.append(self._slots[sh][a:b])
            if recent := self._recent.get(key):
                found.append(np.array(recent, np.uint32))
        if not found:
            return []
        slots, shared = np.unique(np.concatenate(found), return_counts=True)
        rows = slots.astype(np.int64) - self._base
        live = rows >= 0  # evicted slots stay in the sorted shards until the next merge
        slots, shared, rows = slots[live], shared[live], rows[live]
        n = self._sketch_len
        if n and len(sketch) >= n:
            # The view is gone when the statement ends: a bytearray with a live view cannot be resized.
            stored = np.frombuffer(self._sketches, np.uint8).reshape(-1, n)[rows]
            agree = np.count_nonzero(stored == np.frombuffer(sketch, np.uint8, n), axis=1)
            sims = np.clip((agree / n - 1 / 256) / (1 - 1 / 256), 0.0, 1.0)  # as sketch_similarity
        else:
            sims = np.zeros(len(rows))
        keep = sims >= min_similarity
        slots, shared, sims = slots[keep], shared[keep], sims[keep]
        # Slots are distinct, so the order has no ties left.
        top = np.lexsort((slots, shared, sims))[::-1][:limit]
        return [
            Candidate(Ref(self._partitions[s - self._base], self._offsets[s - self._base]), c, sim)
            for s, c, sim in zip(slots[top].tolist(), shared[top].tolist(), sims[top].tolist())
        ]
