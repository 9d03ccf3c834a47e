"""Word trigram model of clean news-release English, used to judge which wording is more natural.

Data source: Grimmer's US Senate press releases 2004-2008 (works of the US Government, public domain in
the US under 17 U.S.C. 105; files flagged as possibly third-party copyright excluded; a fixed 5 % of the
files held out for evaluation, see :func:`workers.restoration.build.ngram.is_held_out`). Only the derived
counts ship with the project, in ``data/ngram.npz``; ``data/NGRAM.md`` says how the file is built.

Tokens are the normalised strings of :func:`workers.restoration.tokens.norms` (lower case, straight
apostrophes, punctuation as single tokens). Scores are stupid backoff (Brants et al. 2007)::

    S(w | u v) = c(u v w) / c(u v)          if the trigram is stored
               = 0.4 * c(v w) / c(v)        else if the bigram is stored
               = 0.4**2 * c(w) / N          else (a word outside the vocabulary counts as c(w) = 1)

with the ``0.4`` factors applied only for history actually available (the first token of a list has no
history, the second only one word). Scores are relative, not normalised probabilities; compare variants
scored over the same right context.

    >>> m = default_model()
    >>> m.count(["said", "the"]) > 0
    True
    >>> m.logprob(["the", "company", "said"]) > m.logprob(["the", "corporate", "mentioned"])
    True
"""

from __future__ import annotations

import json
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from numba import njit

from workers.restoration.tokens import normalise

__all__ = ["NgramModel", "default_model", "DEFAULT_PATH", "ALPHA"]

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "ngram.npz"
ALPHA = 0.4  # stupid-backoff factor per backed-off order
_BITS = 21
_LOG_ALPHA = float(np.log10(ALPHA))
_UNKNOWN_MASK = (1 << 20) - 1  # distinct unknown ids: vocab_size + 20 bits of the token's hash


def _ungap(gaps: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Invert the build's gap coding: ``gaps`` holds, per group of ``run`` items, the first value absolute
    and then differences. Returns int64 values of the same length."""
    c = np.cumsum(gaps, dtype=np.int64)
    ends = np.cumsum(run, dtype=np.int64)
    starts = ends - run
    before = np.zeros(len(run), dtype=np.int64)
    nz = starts > 0
    before[nz] = c[starts[nz] - 1]
    return c - np.repeat(before, run)


# The small lookups are inlined into the kernels that call them: a call would pass the model's eight arrays and
# count their references each time. numba caches each module's kernels by that module's own source file, so
# after editing this file, delete the *.nbi/*.nbc files under workers/restoration/__pycache__ (a new install
# has new files and recompiles by itself).
@njit(cache=True, inline="always")
def _find(sorted_ids, lo: int, hi: int, x: int) -> int:
    """Index of ``x`` in ``sorted_ids[lo:hi]`` (ascending), or -1."""
    while lo < hi:
        mid = (lo + hi) >> 1
        y = sorted_ids[mid]
        if y < x:
            lo = mid + 1
        elif y > x:
            hi = mid
        else:
            return mid
    return -1


@njit(cache=True, inline="always")
def _score(tab, b_uv: int, v: int, w: int, hist: int):
    """log10 stupid-backoff score of ``w`` after ``v`` with ``hist`` (0-2) words of history, and the index of
    the bigram ``(v, w)`` (-1 when not stored). ``b_uv``: index of the bigram of the two previous words (-1
    when not stored or not available), the previous position's result, so a window costs one bigram and one
    trigram search per position. ``tab`` is ``NgramModel._tables``: a word's successors are one sorted run,
    a bigram's third words another, so each search covers one run, not all keys."""
    log_uni, log_uni_count, bi_off, bi_w2, bi_counts, tri_off, tri_w3, tri_counts = tab
    b_vw = _find(bi_w2, bi_off[v], bi_off[v + 1], w) if hist >= 1 else -1
    if hist >= 2 and b_uv >= 0:
        t = _find(tri_w3, tri_off[b_uv], tri_off[b_uv + 1], w)
        if t >= 0:
            return np.log10(tri_counts[t] / max(bi_counts[b_uv], 1.0)), b_vw
    if b_vw >= 0:
        return np.log10(float(bi_counts[b_vw])) - log_uni_count[v] + (_LOG_ALPHA if hist >= 2 else 0.0), b_vw
    return log_uni[w] + _LOG_ALPHA * hist, b_vw


_CACHE_BITS = 14  # entries of the score cache of one call: 2**14 (320 KB)


@njit(cache=True)
def new_cache(vocab_size: int, n_bigrams: int):
    """An empty score cache for ``_score_run``: direct-mapped, keyed by (previous bigram, previous word, word,
    history); candidate windows share most of their positions. Empty (no caching) when the key would not
    fit 63 bits."""
    fits = (n_bigrams + 2) * 4.0 * vocab_size * vocab_size < 2.0**62
    n = 1 << _CACHE_BITS if fits else 0
    return np.zeros(n, dtype=np.uint64), np.empty(n), np.empty(n, dtype=np.int64)


@njit(cache=True, inline="always")
def _cached_score(tab, cache, vocab_size: int, b_uv: int, v: int, w: int, hist: int):
    """``_score`` through ``cache`` (see ``new_cache``)."""
    keys, vals, nexts = cache
    if len(keys) == 0:
        return _score(tab, b_uv, v, w, hist)
    V = np.uint64(vocab_size)
    key = ((np.uint64(b_uv + 1) * V + np.uint64(v)) * V + np.uint64(w)) * np.uint64(4) + np.uint64(hist + 1)  # > 0
    h = (key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _CACHE_BITS)
    if keys[h] == key:
        return vals[h], nexts[h]
    s, b_vw = _score(tab, b_uv, v, w, hist)
    keys[h], vals[h], nexts[h] = key, s, b_vw
    return s, b_vw


@njit(cache=True, inline="always")
def _score_run(tab, cache, vocab_size: int, ids, lo: int, hi: int, start: int) -> float:
    """Sum of the scores of ``ids[lo:hi]`` from position ``lo + start`` on, the list starting at ``lo``
    (ids at or above ``vocab_size`` score as ``<unk>``); ``cache`` from ``new_cache``."""
    total = 0.0
    b = -1
    v = 0
    for q in range(hi - lo):
        w = ids[lo + q]
        w = w if w < vocab_size else 0
        if q < start - 1:  # context only: its bigram is what the next position needs
            b = _find(tab[3], tab[2][v], tab[2][v + 1], w) if q >= 1 else -1
        else:
            s, b_next = _cached_score(tab, cache, vocab_size, b, v, w, min(q, 2))
            if q >= start:
                total += s
            b = b_next
        v = w
    return total


@njit(cache=True)
def _score_windows(tab, vocab_size: int, n_bigrams: int, ids, lens, starts):
    """Per window, ``_score_run`` over it (see ``score_flat``)."""
    out = np.zeros(len(lens))
    cache = new_cache(vocab_size, n_bigrams)
    p = 0
    for k in range(len(lens)):
        out[k] = _score_run(tab, cache, vocab_size, ids, p, p + lens[k], max(starts[k], 0))
        p += lens[k]
    return out


@njit(cache=True, nogil=True)
def _position_scores(tab, ids, start: int):
    """``_score`` of each position of ``ids`` from ``start`` on (ids below the vocabulary size)."""
    out = np.empty(len(ids) - start)
    b = -1
    for q in range(len(ids)):
        s, b = _score(tab, b, ids[q - 1] if q >= 1 else 0, ids[q], min(q, 2))
        if q >= start:
            out[q - start] = s
    return out


@njit(cache=True, nogil=True)
def _count(tab, ids) -> int:
    """Stored count of the bigram ``ids`` (2 ids), or the least count of the trigrams of 3 or more ids."""
    bi_off, bi_w2, bi_counts, tri_off, tri_w3, tri_counts = tab[2:]
    if len(ids) == 2:
        b = _find(bi_w2, bi_off[ids[0]], bi_off[ids[0] + 1], ids[1])
        return bi_counts[b] if b >= 0 else 0
    least = -1
    for q in range(2, len(ids)):
        b = _find(bi_w2, bi_off[ids[q - 2]], bi_off[ids[q - 2] + 1], ids[q - 1])
        t = _find(tri_w3, tri_off[b], tri_off[b + 1], ids[q]) if b >= 0 else -1
        c = tri_counts[t] if t >= 0 else 0
        least = c if least < 0 or c < least else least
    return least


class NgramModel:
    """Unigram/bigram/trigram counts with stupid-backoff scoring.

    Attributes:
        total: number of tokens in the training corpus (int, N in the formula above).
        version: version string of the model file.
        vocab_size: vocabulary size including ``<unk>`` (id 0).
        meta: the file's metadata (dict: corpus, licence, pruning thresholds, build date, ...).

    In memory (the file's layout, about 40 MB): ``uni`` (float64 ``[vocab_size]`` counts); per word id its
    run of successors (int32, sorted) with bigram counts (uint32); per bigram its run of third words with
    trigram counts. Lookups are compiled (numba) binary searches within one run. ``bi_keys``/``tri_keys``
    give the packed sorted keys on demand.
    """

    def __init__(self, words: list[str], uni: np.ndarray, bi_run: np.ndarray, bi_w2: np.ndarray,
                 bi_counts: np.ndarray, tri_run: np.ndarray, tri_w3: np.ndarray, tri_counts: np.ndarray, meta: dict):
        self.words = ["<unk>", *words]
        self._index: dict[str, int] = {w: i for i, w in enumerate(words, start=1)}
        self.uni = uni.astype(np.float64)
        self.vocab_size = len(self.words)
        self.n_bigrams, self.n_trigrams = len(bi_w2), len(tri_w3)
        self.meta = meta
        self.total = int(meta["tokens"])
        self.version = str(meta["version"])
        # log10 unigram score per id, with an unseen word counted as 1 occurrence
        u = self.uni.copy()
        u[0] = 1.0
        bi_off = np.zeros(self.vocab_size + 1, dtype=np.int64)
        bi_off[1 : len(bi_run) + 1] = np.cumsum(bi_run, dtype=np.int64)
        bi_off[len(bi_run) + 1 :] = bi_off[len(bi_run)]
        tri_off = np.zeros(len(tri_run) + 1, dtype=np.int64)
        tri_off[1:] = np.cumsum(tri_run, dtype=np.int64)
        # arrays for the compiled lookups; a word's successors are the sorted run bi_w2[bi_off[w]:bi_off[w + 1]],
        # a bigram's (index b) the run tri_w3[tri_off[b]:tri_off[b + 1]]
        self._tables = (
            np.log10(u / self.total), np.log10(np.maximum(self.uni, 1.0)),
            bi_off, bi_w2.astype(np.int32), bi_counts.astype(np.uint32),
            tri_off, tri_w3.astype(np.int32), tri_counts.astype(np.uint32),
        )

    @cached_property
    def bi_keys(self) -> np.ndarray:
        """Sorted packed bigram keys ``w1 << 21 | w2`` (int64), one per stored bigram (for checks and tools)."""
        bi_off, bi_w2 = self._tables[2], self._tables[3]
        return (np.repeat(np.arange(self.vocab_size, dtype=np.int64), np.diff(bi_off)) << _BITS) | bi_w2

    @cached_property
    def tri_keys(self) -> np.ndarray:
        """Sorted packed trigram keys ``w1 << 42 | w2 << 21 | w3`` (int64), one per stored trigram."""
        tri_off, tri_w3 = self._tables[5], self._tables[6]
        return (np.repeat(self.bi_keys, np.diff(tri_off)) << _BITS) | tri_w3

    @property
    def bi_counts(self) -> np.ndarray:
        """Counts (uint32) aligned with ``bi_keys``."""
        return self._tables[4]

    @property
    def tri_counts(self) -> np.ndarray:
        """Counts (uint32) aligned with ``tri_keys``."""
        return self._tables[7]

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> "NgramModel":
        """Load a model file written by ``workers.restoration.build.ngram`` (default: the shipped
        ``data/ngram.npz`` beside this module). Raises ``FileNotFoundError`` when it is missing."""
        path = Path(path) if path is not None else DEFAULT_PATH
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            words = z["vocab"].tobytes().decode("utf-8").split("\n")
            bi_run = z["bi_run"].astype(np.int64)
            tri_run = z["tri_run"].astype(np.int64)
            return cls(words, z["uni_counts"], bi_run, _ungap(z["bi_w2"], bi_run), z["bi_counts"],
                       tri_run, _ungap(z["tri_w3"], tri_run), z["tri_counts"], meta)

    # ------------------------------------------------------------------ lookups
    def ids(self, tokens: Sequence[str], distinct_unknown: bool = False) -> list[int]:
        """Word ids of ``tokens`` (0 = ``<unk>``); tokens not found as given are looked up normalised.

        ``distinct_unknown``: an unknown token gets an id of its own at or above ``vocab_size`` (from its
        string hash, stable within the process) instead of 0, so that two different unknown words stay
        different when id sequences are compared; ``score_flat`` scores such ids as ``<unk>``."""
        get = self._index.get
        if not distinct_unknown:
            return [get(t) or get(normalise(t), 0) for t in tokens]
        v = self.vocab_size
        return [get(t) or get(normalise(t)) or v + (hash(t) & _UNKNOWN_MASK) for t in tokens]

    def count(self, tokens: Sequence[str]) -> int:
        """Exact training-corpus count of a 1-3 token n-gram; 0 when unseen, out of vocabulary (words
        seen fewer than 2 times) or pruned (see ``meta``). For 4 or more tokens returns the minimum of the
        counts of its trigrams, an upper bound on the true count. An empty sequence returns ``total``."""
        n = len(tokens)
        if n == 0:
            return self.total
        ids = self.ids(tokens)
        if 0 in ids:
            return 0
        if n == 1:
            return int(self.uni[ids[0]])
        return int(_count(self._tables, np.asarray(ids, dtype=np.int64)))

    # ------------------------------------------------------------------ scoring
    def logprob(self, tokens: Sequence[str], start: int = 0) -> float:
        """Sum over positions ``i >= start`` of log10 S(tokens[i] | up to 2 previous tokens of the list).

        ``tokens``: normalised tokens (e.g. left context + variant + right context); tokens before
        ``start`` only serve as history. Returns 0.0 when nothing is scored. Stupid-backoff scores are
        <= 0 and additive: ``logprob(t, s) == logprob(t[:k], s) + logprob(t, k)`` for ``s <= k``.
        """
        return float(self.token_scores(tokens, start).sum())

    def token_scores(self, tokens: Sequence[str], start: int = 0) -> np.ndarray:
        """Per-position log10 scores (float64 array of length ``len(tokens) - start``)."""
        n = len(tokens)
        start = max(0, min(start, n))
        get = self._index.get
        ids = np.array([get(t) or get(normalise(t), 0) for t in tokens], dtype=np.int64)
        return _position_scores(self._tables, ids, start)

    def score_many(self, windows: Sequence[Sequence[str]], start_positions: Sequence[int] | int = 0) -> list[float]:
        """``[logprob(w, s) for w, s in zip(windows, start_positions)]`` in one vectorised pass.

        ``start_positions``: one start per window, or one int for all. Faster than repeated ``logprob``
        calls when scoring many candidate windows (numpy overhead is paid once per batch).
        """
        m = len(windows)
        if m == 0:
            return []
        starts = np.full(m, start_positions, dtype=np.int64) if isinstance(start_positions, int) \
            else np.asarray(start_positions, dtype=np.int64)
        lens = np.fromiter((len(w) for w in windows), dtype=np.int64, count=m)
        get = self._index.get
        a = np.fromiter((get(t) or get(normalise(t), 0) for win in windows for t in win), dtype=np.int64,
                        count=int(lens.sum()))
        return self.score_flat(a, lens, starts).tolist()

    def score_flat(self, ids: np.ndarray, lens: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """``score_many`` on windows given as word ids: ``ids`` (int64) holds the windows one after the
        other, ``lens`` (int64, one per window) their lengths in tokens, ``starts`` (int64) the first
        scored position of each. Ids at or above ``vocab_size`` (see ``ids(distinct_unknown=True)``) score
        as ``<unk>``. Returns float64 log10 scores, one per window."""
        return _score_windows(self._tables, self.vocab_size, self.n_bigrams, np.asarray(ids, dtype=np.int64),
                              np.asarray(lens, dtype=np.int64), np.asarray(starts, dtype=np.int64))

    def __repr__(self) -> str:
        return (f"NgramModel(version={self.version!r}, total={self.total}, vocab_size={self.vocab_size}, "
                f"bigrams={self.n_bigrams}, trigrams={self.n_trigrams})")


@lru_cache(maxsize=1)
def default_model() -> NgramModel:
    """The shipped model (``data/ngram.npz``), loaded once per process."""
    return NgramModel.load()
