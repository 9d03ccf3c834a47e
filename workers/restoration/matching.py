"""The spinner families' forms indexed by token ids, and the compiled scan that finds them in an article
(steps 2-3 of ``restorer.py``).

Every spun form (a key of a family's reverse index) and every original form (a key of its forward index)
gets a global form id; its tokens get token ids from one vocabulary shared by the families. The scan reads
the article's token ids once per family, left to right, and at each token tries the family's forms starting
with that token, longest first, exactly as the restorer's evidence rule says: the longest form starting at
the first token not yet covered counts as evidence (a spun form as a hit, an original as "unchanged"), and
every spun form found anywhere is a candidate span.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numba import njit

_HASH = np.random.default_rng(20261201).integers(1, 2**63, size=17, dtype=np.uint64) | np.uint64(1)


@njit(cache=True, inline="always")
def _form_hash(family: int, tids, lo: int, hi: int, mult) -> np.uint64:
    """Hash of family ``family`` and the token ids ``tids[lo:hi]`` (at most ``len(mult) - 1`` tokens)."""
    h = np.uint64(family + 1) * mult[0]
    for q in range(lo, hi):
        h += np.uint64(tids[q] + 1) * mult[q - lo + 1]
    return h


@njit(cache=True)
def _hash_all(fam, ftid, fstart, mult):
    """``_form_hash`` of every form (its family ``fam``, tokens ``ftid[fstart[g]:fstart[g + 1]]``)."""
    out = np.empty(len(fam), dtype=np.uint64)
    for g in range(len(fam)):
        out[g] = _form_hash(fam[g], ftid, fstart[g], fstart[g + 1], mult)
    return out


@njit(cache=True)
def _slots(h, bits: int):
    """An open-addressing table of ``2**bits`` slots (linear probing, -1: empty) holding each form id ``g`` at
    the slot its hash ``h[g]`` picks (its top ``bits`` bits)."""
    mask = (1 << bits) - 1
    slots = np.full(1 << bits, -1, dtype=np.int32)
    for g in range(len(h)):
        k = np.int64(h[g] >> np.uint64(64 - bits))
        while slots[k] >= 0:
            k = (k + 1) & mask
        slots[k] = g
    return slots


@njit(cache=True, inline="always")
def _lookup(ix, family: int, tids, lo: int, hi: int) -> int:
    """Global id of the form of ``family`` whose tokens are ``tids[lo:hi]``, or -1."""
    fh, slots, fam, ftid, fstart, mult, shift = ix
    h = _form_hash(family, tids, lo, hi, mult)
    mask = len(slots) - 1
    k = np.int64(h >> shift)
    while slots[k] >= 0:
        g = slots[k]
        if fh[g] == h and fam[g] == family and fstart[g + 1] - fstart[g] == hi - lo:
            same = True
            for q in range(hi - lo):
                if ftid[fstart[g] + q] != tids[lo + q]:
                    same = False
                    break
            if same:
                return g
        k = (k + 1) & mask
    return -1


@njit(cache=True)
def _scan(ix, lens_start, lens_flat, is_rev, is_fwd, n_families: int, tids, locked):
    """Evidence and candidate spans of every family (see the module doc). ``lens_start[f, t]`` .. ``[f, t + 1]``
    index ``lens_flat``: the lengths of family ``f``'s forms starting with token ``t``, longest first.
    Returns the spans (start, end, form id, counted as evidence), the evidence hits (form ids, in order) and
    per family the originals left unchanged."""
    N = len(tids)
    cap = 16
    s_i = np.empty(cap, dtype=np.int64)
    s_j = np.empty(cap, dtype=np.int64)
    s_g = np.empty(cap, dtype=np.int64)
    s_own = np.empty(cap, dtype=np.bool_)
    hits = np.empty(N * n_families + 1, dtype=np.int64)
    unchanged = np.zeros(n_families, dtype=np.int64)
    ns, nh = 0, 0
    any_locked = locked.any()
    for f in range(n_families):
        covered_to = 0
        for i in range(N):
            t = tids[i]
            if t < 0:
                continue
            a, b = lens_start[f, t], lens_start[f, t + 1]
            free = i >= covered_to
            for k in range(a, b):
                L = lens_flat[k]
                if i + L > N:
                    continue
                g = _lookup(ix, f, tids, i, i + L)
                if g >= 0 and is_rev[g]:
                    own = free
                    if free:
                        hits[nh] = g
                        nh += 1
                        covered_to, free = i + L, False
                    if any_locked and locked[i : i + L].any():
                        continue
                    if ns == cap:
                        cap *= 2
                        s_i, s_j, s_g, s_own = _grow(s_i, cap), _grow(s_j, cap), _grow(s_g, cap), _grow(s_own, cap)
                    s_i[ns], s_j[ns], s_g[ns], s_own[ns] = i, i + L, g, own
                    ns += 1
                elif g >= 0 and free and is_fwd[g]:
                    unchanged[f] += 1
                    covered_to, free = i + L, False
    return s_i[:ns], s_j[:ns], s_g[:ns], s_own[:ns], hits[:nh], unchanged


@njit(cache=True)
def _grow(a, n: int):
    out = np.empty(n, dtype=a.dtype)
    out[: len(a)] = a
    return out


class FormIndex:
    """The forms of spinner families (``Family.table``: ``reverse`` and ``forward`` dicts keyed by token tuples)
    with integer ids. ``keys[g]``: the token tuple of form ``g``; ``family[g]``: its family index;
    ``is_rev``/``is_fwd``: it is a spun form / an original form of its family. Forms longer than 16 tokens
    are left out (no table has them)."""

    MAX_LEN = len(_HASH) - 1

    def __init__(self, tables: Sequence):
        self.vocab: dict[str, int] = {}
        keys: list[tuple[str, ...]] = []
        fam: list[int] = []
        rev: list[bool] = []
        fwd: list[bool] = []
        for f, table in enumerate(tables):
            for k in dict.fromkeys([*table.reverse, *table.forward]):
                if 0 < len(k) <= self.MAX_LEN:
                    keys.append(k)
                    fam.append(f)
                    rev.append(k in table.reverse)
                    fwd.append(k in table.forward)
        vocab = self.vocab
        ftid = np.fromiter((vocab.setdefault(w, len(vocab)) for k in keys for w in k), dtype=np.int64)
        fstart = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)), out=fstart[1:])
        self.keys = keys
        self.family = np.asarray(fam, dtype=np.int64)
        self.is_rev = np.asarray(rev, dtype=np.bool_)
        self.is_fwd = np.asarray(fwd, dtype=np.bool_)
        self.n_families = len(tables)
        h = _hash_all(self.family, ftid, fstart, _HASH)
        # a hash table of the forms: at most half full, so a look-up reads one or two slots (a binary search
        # over the sorted hashes read 16, mostly outside the CPU caches)
        bits = max(4, int(np.ceil(np.log2(2 * len(keys) + 1))))
        self._ix = (h, _slots(h, bits), self.family, ftid, fstart, _HASH, np.uint64(64 - bits))
        # per family and first token, the lengths of the forms starting with it, longest first
        T = len(vocab)
        first = ftid[fstart[:-1]] if keys else np.zeros(0, dtype=np.int64)
        length = np.diff(fstart)
        pairs = np.unique(np.stack((self.family, first, -length), 1), axis=0) if keys else np.zeros((0, 3), np.int64)
        self._lens_flat = -pairs[:, 2].astype(np.int64)
        counts = np.zeros((max(1, self.n_families), T + 1), dtype=np.int64)
        np.add.at(counts, (pairs[:, 0], pairs[:, 1] + 1), 1)
        # the pairs are sorted by family, then token: one running count over the rows gives each start
        self._lens_start = np.cumsum(counts.ravel()).reshape(counts.shape)

    def token_ids(self, norms: Sequence[str]) -> np.ndarray:
        """Token ids of an article's normalised tokens (-1: in no family's forms)."""
        get = self.vocab.get
        return np.fromiter((get(w, -1) for w in norms), dtype=np.int64, count=len(norms))

    def scan(self, tids: np.ndarray, locked: Sequence[bool]):
        """``_scan`` of the article's token ids; ``locked``: tokens no span may cover."""
        return _scan(self._ix, self._lens_start, self._lens_flat, self.is_rev, self.is_fwd, self.n_families, tids,
                     np.asarray(locked, dtype=np.bool_))
