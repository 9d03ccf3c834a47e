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
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from workers.restoration.tokens import normalise

__all__ = ["NgramModel", "default_model", "DEFAULT_PATH", "ALPHA"]

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "ngram.npz"
ALPHA = 0.4  # stupid-backoff factor per backed-off order
_BITS = 21
_MASK = (1 << _BITS) - 1
_LOG_ALPHA = float(np.log10(ALPHA))
_HIST = np.minimum(np.arange(4096), 2)  # history length available at each position of a token list
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


class NgramModel:
    """Unigram/bigram/trigram counts with stupid-backoff scoring.

    Attributes:
        total: number of tokens in the training corpus (int, N in the formula above).
        version: version string of the model file.
        vocab_size: vocabulary size including ``<unk>`` (id 0).
        meta: the file's metadata (dict: corpus, licence, pruning thresholds, build date, ...).

    In memory: ``uni`` (float64 ``[vocab_size]`` counts), ``bi_keys`` (int64 sorted ``w1 << 21 | w2``) with
    ``bi_counts`` (uint32), ``tri_keys`` (int64 sorted ``w1 << 42 | w2 << 21 | w3``) with ``tri_counts``.
    """

    def __init__(self, words: list[str], uni: np.ndarray, bi_keys: np.ndarray, bi_counts: np.ndarray,
                 tri_keys: np.ndarray, tri_counts: np.ndarray, meta: dict):
        self.words = ["<unk>", *words]
        self._index: dict[str, int] = {w: i for i, w in enumerate(words, start=1)}
        self.uni = uni.astype(np.float64)
        sentinel = np.array([np.iinfo(np.int64).max], dtype=np.int64)
        zero = np.zeros(1, dtype=np.uint32)
        # keys end with one sentinel entry (count 0); n-gram totals exclude it
        self.bi_keys = np.concatenate((bi_keys, sentinel))
        self.bi_counts = np.concatenate((bi_counts.astype(np.uint32), zero))
        self.tri_keys = np.concatenate((tri_keys, sentinel))
        self.tri_counts = np.concatenate((tri_counts.astype(np.uint32), zero))
        self.n_bigrams, self.n_trigrams = len(bi_keys), len(tri_keys)
        self.meta = meta
        self.total = int(meta["tokens"])
        self.version = str(meta["version"])
        self.vocab_size = len(self.words)
        # log10 unigram score per id, with an unseen word counted as 1 occurrence
        u = self.uni.copy()
        u[0] = 1.0
        self._log_uni = np.log10(u / self.total)
        self._log_uni_count = np.log10(np.maximum(self.uni, 1.0))

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> "NgramModel":
        """Load a model file written by ``workers.restoration.build.ngram`` (default: the shipped
        ``data/ngram.npz`` beside this module). Raises ``FileNotFoundError`` when it is missing."""
        path = Path(path) if path is not None else DEFAULT_PATH
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            words = z["vocab"].tobytes().decode("utf-8").split("\n")
            uni = z["uni_counts"]
            bi_run = z["bi_run"].astype(np.int64)
            bi_w2 = _ungap(z["bi_w2"], bi_run)
            bi_counts = z["bi_counts"]
            tri_run = z["tri_run"].astype(np.int64)
            tri_w3 = _ungap(z["tri_w3"], tri_run)
            tri_counts = z["tri_counts"]
        bi_keys = np.repeat(np.arange(len(bi_run), dtype=np.int64) << _BITS, bi_run)
        bi_keys |= bi_w2
        del bi_w2
        tri_keys = np.repeat(bi_keys << _BITS, tri_run)
        tri_keys |= tri_w3
        return cls(words, uni, bi_keys, bi_counts, tri_keys, tri_counts, meta)

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

    @staticmethod
    def _lookup(keys: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Counts (int64) of the packed keys ``q`` in sorted ``keys``; 0 where absent. ``keys`` ends with
        a sentinel larger than any real key whose count is 0, so no bounds check is needed."""
        idx = np.searchsorted(keys, q)
        return np.where(keys[idx] == q, counts[idx], 0)

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
        if n == 2:
            q = np.array([(ids[0] << _BITS) | ids[1]], dtype=np.int64)
            return int(self._lookup(self.bi_keys, self.bi_counts, q)[0])
        a = np.asarray(ids, dtype=np.int64)
        q = (a[:-2] << (2 * _BITS)) | (a[1:-1] << _BITS) | a[2:]
        return int(self._lookup(self.tri_keys, self.tri_counts, q).min())

    # ------------------------------------------------------------------ scoring
    def _score_ids(self, w: np.ndarray, v: np.ndarray, u: np.ndarray, hist: np.ndarray) -> np.ndarray:
        """log10 stupid-backoff scores for words ``w`` with previous word ``v`` and the one before ``u``
        (int64 arrays of equal length); ``hist`` (0, 1 or 2) is how much history each position has."""
        n = len(w)
        k2 = (v << _BITS) | w
        # one search for both the bigram (v, w) and the trigram context (u, v)
        c22 = self._lookup(self.bi_keys, self.bi_counts, np.concatenate((k2, (u << _BITS) | v)))
        c2, cuv = c22[:n], c22[n:]
        c3 = self._lookup(self.tri_keys, self.tri_counts, (u << (2 * _BITS)) | k2)
        c2 = c2 * (hist >= 1)
        c3 = c3 * (hist >= 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            s3 = np.log10(c3 / np.maximum(cuv, 1))
            s2 = np.log10(c2) - self._log_uni_count[v] + _LOG_ALPHA * (hist >= 2)
        s1 = self._log_uni[w] + _LOG_ALPHA * hist
        return np.where(c3 > 0, s3, np.where(c2 > 0, s2, s1))

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
        ids = [get(t) or get(normalise(t), 0) for t in tokens]
        # history arrays: positions without history point at id 0, masked by ``hist``
        lo = max(start - 2, 0)
        pad = [0] * (2 - (start - lo))
        a = np.array(pad + ids[lo:], dtype=np.int64)
        hist = _HIST[start:n] if n <= len(_HIST) else np.minimum(np.arange(start, n), 2)
        return self._score_ids(a[2:], a[1:-1], a[:-2], hist)

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
        m = len(lens)
        if m == 0:
            return np.zeros(0)
        a = np.where(ids >= self.vocab_size, 0, ids)
        offs = np.cumsum(lens) - lens
        local = np.arange(len(a)) - np.repeat(offs, lens)  # position within its window
        keep = local >= np.repeat(np.maximum(starts, 0), lens)
        gi = np.flatnonzero(keep)
        if len(gi) == 0:
            return np.zeros(m)
        hist = np.minimum(local[gi], 2)
        w, v, u = a[gi], a[np.maximum(gi - 1, 0)] * (hist >= 1), a[np.maximum(gi - 2, 0)] * (hist >= 2)
        if self.vocab_size < (1 << 20):
            # Candidate windows share most of their positions: score each distinct one once.
            key = (((u << 20 | v) << 20 | w) << 2) | hist
            uniq, inverse = np.unique(key, return_inverse=True)
            mask = (1 << 20) - 1
            s = self._score_ids(uniq >> 2 & mask, uniq >> 22 & mask, uniq >> 42 & mask, uniq & 3)[inverse]
        else:
            s = self._score_ids(w, v, u, hist)
        win = np.repeat(np.arange(m), lens)[gi]
        return np.bincount(win, weights=s, minlength=m)

    def __repr__(self) -> str:
        return (f"NgramModel(version={self.version!r}, total={self.total}, vocab_size={self.vocab_size}, "
                f"bigrams={self.n_bigrams}, trigrams={self.n_trigrams})")


@lru_cache(maxsize=1)
def default_model() -> NgramModel:
    """The shipped model (``data/ngram.npz``), loaded once per process."""
    return NgramModel.load()
