"""The joint decision of the restorer (step 5 of ``restorer.py``): which option, if any, each candidate
span takes, and the posterior of that choice.

Input: the article's word ids (``NgramModel.ids(..., distinct_unknown=True)``) and its candidate spans, each
with options carrying a prior log-odds ``bonus`` (nats) and their own word ids. Two passes:

1. **Independent windows**: each span is scored alone (2 tokens of context each side, the spun
   neighbours as they are); options with a posterior under ``MIN_POSTERIOR`` are dropped and the
   ``MAX_OPTIONS`` best kept.
2. **Joint windows**: spans within two tokens of each other form groups of up to ``MAX_GROUP``
   (overlapping spans always join: the words of one long spun name are one decision). Every
   non-overlapping combination of a group's options is scored over one window (two tokens of context
   each side); a group with more than ``MAX_COMBOS`` combinations is tried with each span's best option
   only, and failing that decided span by span. Combinations that give the same text are one outcome;
   the best outcome is the one with the most posterior mass, and within it the combination with the
   fewest edits, then the most tokens covered, then the best score. An edit's posterior is the mass of
   the combinations that choose it or give the best outcome.

Both passes run as one compiled function (numba, ``_decide``) over the spans and options flattened into
arrays; each window is written into a small buffer and scored with the n-gram model's compiled lookups
(``ngram._score_run``).
"""

from __future__ import annotations

from itertools import chain
from typing import NamedTuple

import numpy as np
from numba import njit

from workers.restoration.ngram import _score_run, new_cache

MAX_OPTIONS = 2  # per span, after the independent pass
MAX_COMBOS = 64  # per group of interacting spans
MAX_GROUP = 3  # spans decided jointly; longer chains of interacting spans are cut into groups of this size
MIN_POSTERIOR = 1e-3  # options below this independent posterior are dropped before the joint decision


class Option(NamedTuple):
    """One way to restore a span: ``toks`` (normalised tokens), ``surface`` (the original as written),
    ``kind``, ``bonus`` (prior log-odds against keeping the span, nats), ``feats`` (prior features for the
    confidence model), ``gain`` (n-gram log-probability gain over keeping the span, nats, independent
    window), ``ids`` (word ids of ``toks``)."""

    toks: tuple[str, ...]
    surface: str
    kind: str
    bonus: float
    feats: tuple[float, ...] = ()
    gain: float = 0.0
    ids: tuple[int, ...] = ()


class Span(NamedTuple):
    """A candidate span: tokens ``[i, j)`` of the article, its spun form ``key`` and its ``options``."""

    i: int
    j: int
    key: tuple[str, ...]
    options: list[Option]


@njit(cache=True)
def _independent(tab, cache, V, lmw, nid, si, sj, ofirst, obonus, ifirst, iflat):
    """Pass 1. Per option (flat index): its value (n-gram score x ``lmw`` + bonus, nats), its posterior and
    whether it is kept (fewer than ``MAX_OPTIONS`` of the span's options have a higher posterior, or an equal
    one and come first, and its posterior is >= ``MIN_POSTERIOR``); per span the value of keeping it."""
    N = len(nid)
    S = len(si)
    longest = 0
    for o in range(len(obonus)):
        longest = max(longest, ifirst[o + 1] - ifirst[o])
    buf = np.empty(longest + 4, dtype=np.int64)
    val = np.empty(len(obonus))
    post = np.zeros(len(obonus))
    keep_val = np.empty(S)
    kept = np.zeros(len(obonus), dtype=np.bool_)
    for s in range(S):
        i, j = si[s], sj[s]
        left = max(i - 2, 0)
        right = min(j + 2, N)
        keep_val[s] = _score_run(tab, cache, V, nid, left, right, i - left) * lmw + 0.0
        a, b = ofirst[s], ofirst[s + 1]
        m = keep_val[s]
        for o in range(a, b):
            L = 0
            for q in range(left, i):
                buf[L] = nid[q]
                L += 1
            for q in range(ifirst[o], ifirst[o + 1]):
                buf[L] = iflat[q]
                L += 1
            for q in range(j, right):
                buf[L] = nid[q]
                L += 1
            val[o] = _score_run(tab, cache, V, buf, 0, L, i - left) * lmw + obonus[o]
            m = max(m, val[o])
        z = np.exp(keep_val[s] - m)
        for o in range(a, b):
            z += np.exp(val[o] - m)
        for o in range(a, b):
            post[o] = np.exp(val[o] - m) / z
        for o in range(a, b):
            rank = 0
            for o2 in range(a, b):
                if post[o2] > post[o] or (post[o2] == post[o] and o2 < o):
                    rank += 1
            kept[o] = rank < MAX_OPTIONS and post[o] >= MIN_POSTERIOR
    return val, post, keep_val, kept


@njit(cache=True)
def _combos(ri, rj, nopt, first, last, limit):
    """Non-overlapping assignments (0 keeps a span, k takes its option k <= ``limit``) of spans
    ``first..last-1`` (starts ``ri``, ends ``rj``), depth first (keeping first), at most ``MAX_COMBOS + 1``.
    Only valid prefixes are extended, so the work is bounded by the combinations returned, however
    many spans overlap. Returns an int64 array (combinations x spans)."""
    m = last - first
    out = np.zeros((MAX_COMBOS + 1, m), dtype=np.int64)
    n = 0
    cur = np.full(m, -1, dtype=np.int64)
    end = np.full(m + 1, -1, dtype=np.int64)  # end of the last span taken before each level
    t = 0
    while t >= 0:
        cur[t] += 1
        c = cur[t]
        if c > min(nopt[first + t], limit) or (c > 0 and ri[first + t] < end[t]):
            cur[t] = -1  # this level is exhausted (an overlap rules out every option alike)
            t -= 1
            continue
        end[t + 1] = rj[first + t] if c > 0 else end[t]
        if t < m - 1:
            t += 1
            continue
        out[n] = cur
        n += 1
        if n > MAX_COMBOS:
            break
    return out[:n]


@njit(cache=True)
def _job(tab, cache, V, lmw, nid, pi, pj, popt, ifirst, iflat, obonus, combos, slots, a, ll, b_rel, rl, merge,
         out_ci, out_p, out_pk):
    """Score the combinations ``combos`` (rows x slots) of the group's spans ``slots`` (indices into the
    pruned spans; the group starts at article token ``a`` with ``ll``/``rl`` context tokens available and
    ends ``b_rel`` tokens after ``a``), take the best outcome and write each slot's choice, posterior and
    posterior of keeping into ``out_*`` (indexed by pruned span)."""
    R, K = combos.shape
    a2 = pi[slots[0]] - a
    b2 = 0
    for t in range(K):
        b2 = max(b2, pj[slots[t]] - a)
    lo, hi = max(a2 - 2, -ll), min(b2 + 2, b_rel + rl)
    need = hi - lo
    for t in range(K):
        for k in range(MAX_OPTIONS):
            o = popt[slots[t], k]
            if o >= 0:
                need += ifirst[o + 1] - ifirst[o]
    buf = np.empty(need, dtype=np.int64)
    wins = np.empty((R, need if merge else 0), dtype=np.int64)
    val = np.empty(R)
    wlen = np.zeros(R, dtype=np.int64)
    for r in range(R):
        L = 0
        for q in range(a + lo, a + a2):
            buf[L] = nid[q]
            L += 1
        pos = a + a2
        bsum = 0.0
        for t in range(K):
            ci = combos[r, t]
            if ci:
                s = slots[t]
                for q in range(pos, pi[s]):
                    buf[L] = nid[q]
                    L += 1
                o = popt[s, ci - 1]
                for q in range(ifirst[o], ifirst[o + 1]):
                    buf[L] = iflat[q]
                    L += 1
                pos = pj[s]
                bsum += obonus[o]
        for q in range(pos, a + hi):
            buf[L] = nid[q]
            L += 1
        val[r] = _score_run(tab, cache, V, buf, 0, L, a2 - lo) * lmw + bsum
        if merge:
            wlen[r] = L
            wins[r, :L] = buf[:L]
    _settle(val, combos, slots, pi, pj, merge, wins, wlen, out_ci, out_p, out_pk)


@njit(cache=True, inline="always")
def _same(wins, wlen, r: int, r2: int) -> bool:
    """Rows ``r`` and ``r2`` have the same window."""
    if wlen[r] != wlen[r2]:
        return False
    for q in range(wlen[r]):
        if wins[r, q] != wins[r2, q]:
            return False
    return True


@njit(cache=True)
def _settle(val, combos, slots, pi, pj, merge, wins, wlen, out_ci, out_p, out_pk):
    """The best outcome of a job's rows (values ``val``; with ``merge``, rows whose windows ``wins`` are
    equal are one outcome) and each slot's choice, posterior and posterior of keeping."""
    R, K = combos.shape
    m = val.max()
    w = np.exp(val - m)
    z = 0.0
    for r in range(R):
        z += w[r]
    cls = np.arange(R)
    if merge:
        for r in range(R):
            for r2 in range(r):
                if cls[r2] == r2 and _same(wins, wlen, r, r2):
                    cls[r] = r2
                    break
    tot = np.zeros(R)
    for r in range(R):
        tot[cls[r]] += w[r]
    bq = 0
    for r in range(R):  # the outcome with the most mass, the first met on ties
        if tot[cls[r]] > tot[cls[bq]]:
            bq = r
    bq = cls[bq]
    best = -1  # within it: fewest edits, most tokens covered, best value, first met
    be, bc = 0, 0
    for r in range(R):
        if cls[r] != bq:
            continue
        e, c = 0, 0
        for t in range(K):
            if combos[r, t]:
                e += 1
                c += pj[slots[t]] - pi[slots[t]]
        if best < 0 or e < be or (e == be and (c > bc or (c == bc and val[r] > val[best]))):
            best, be, bc = r, e, c
    for t in range(K):
        bci = combos[best, t]
        p, pk = 0.0, 0.0
        for r in range(R):
            if combos[r, t] == bci or cls[r] == bq:
                p += w[r]
            if combos[r, t] == 0:
                pk += w[r]
        s = slots[t]
        out_ci[s] = bci
        out_p[s] = p / z
        out_pk[s] = pk / z


@njit(cache=True)
def _decide(tab, V, n_bigrams, lmw, nid, si, sj, ofirst, obonus, ohash, khash, ifirst, iflat):
    """Both passes over flattened spans (starts ``si``, ends ``sj``, options ``ofirst[s]:ofirst[s + 1]``
    with bonus ``obonus``, text hashes ``ohash`` and ids ``iflat[ifirst[o]:ifirst[o + 1]]``; ``khash``: text
    hash of each span's spun form). Returns, per span, the option taken (flat index, -1: kept), its
    posterior, the posterior of keeping, and its independent n-gram gain (nats)."""
    cache = new_cache(V, n_bigrams)
    val, post, keep_val, kept = _independent(tab, cache, V, lmw, nid, si, sj, ofirst, obonus, ifirst, iflat)
    S = len(si)
    # the pruned spans: those with a kept option, their options likeliest first
    pspan = np.empty(S, dtype=np.int64)
    popt = np.full((S, MAX_OPTIONS), -1, dtype=np.int64)
    pn = np.zeros(S, dtype=np.int64)
    P = 0
    for s in range(S):
        n = 0
        for o in range(ofirst[s], ofirst[s + 1]):
            if kept[o]:
                n += 1
        if n == 0:
            continue
        for o in range(ofirst[s], ofirst[s + 1]):
            if kept[o]:
                k = 0
                for o2 in range(ofirst[s], ofirst[s + 1]):
                    if kept[o2] and (post[o2] > post[o] or (post[o2] == post[o] and o2 < o)):
                        k += 1
                popt[P, k] = o
        pspan[P], pn[P] = s, n
        P += 1
    pi, pj = si[pspan[:P]], sj[pspan[:P]]
    out_ci = np.zeros(P, dtype=np.int64)
    out_p = np.zeros(P)
    out_pk = np.zeros(P)
    wins = np.empty((MAX_OPTIONS + 1, 1), dtype=np.int64)  # a span alone: its outcomes' text hashes
    wlen = np.ones(MAX_OPTIONS + 1, dtype=np.int64)
    N = len(nid)
    g0 = 0
    while g0 < P:
        g1 = g0 + 1
        end = pj[g0]
        # overlapping spans always join (the words of one long spun name are one decision); spans within
        # two tokens of each other join up to MAX_GROUP
        while g1 < P and (pi[g1] < end or (pi[g1] <= end + 2 and g1 - g0 < MAX_GROUP)):
            end = max(end, pj[g1])
            g1 += 1
        if g1 - g0 == 1:  # alone: keeping or one of its options, valued by the independent pass
            s = pspan[g0]
            R = pn[g0] + 1
            v = np.empty(R)
            v[0] = keep_val[s]
            combos = np.arange(R).reshape(R, 1)
            wins[0, 0] = khash[s]
            for k in range(R - 1):
                v[k + 1] = val[popt[g0, k]]
                wins[k + 1, 0] = ohash[popt[g0, k]]  # options giving the same text are one outcome
            _settle(v, combos, np.array([g0]), pi, pj, R > 2, wins, wlen, out_ci, out_p, out_pk)
        else:
            a, b = pi[g0], end
            ll, rl = min(2, a), min(2, N - b)
            slots = np.arange(g0, g1)
            combos = _combos(pi, pj, pn, g0, g1, MAX_OPTIONS)
            if len(combos) > MAX_COMBOS:
                combos = _combos(pi, pj, pn, g0, g1, 1)
            if len(combos) <= MAX_COMBOS:
                _job(tab, cache, V, lmw, nid, pi, pj, popt, ifirst, iflat, obonus, combos, slots, a, ll, b - a, rl,
                     True, out_ci, out_p, out_pk)
            else:  # too dense: decide span by span
                one = np.array([[0], [1]], dtype=np.int64)
                for s in range(g0, g1):
                    _job(tab, cache, V, lmw, nid, pi, pj, popt, ifirst, iflat, obonus, one, np.array([s]), a, ll, b - a,
                         rl, False, out_ci, out_p, out_pk)
        g0 = g1
    chosen = np.full(S, -1, dtype=np.int64)
    p_out = np.zeros(S)
    pk_out = np.zeros(S)
    gain = np.zeros(S)
    for t in range(P):
        if out_ci[t] > 0:
            s = pspan[t]
            o = popt[t, out_ci[t] - 1]
            chosen[s] = o
            p_out[s] = out_p[t]
            pk_out[s] = min(1.0 - out_p[t], out_pk[t])
            gain[s] = val[o] - obonus[o] - keep_val[s]
    return chosen, p_out, pk_out, gain


class Decider:
    """Joint decision over an article's candidate spans with an n-gram ``model`` (its compiled tables,
    ``NgramModel._tables``) whose log10 scores are scaled by ``lm_weight`` (natural-log units per log10
    unit)."""

    def __init__(self, model, lm_weight: float):
        self.model = model
        self.lmw = lm_weight

    def decide(self, nid: list[int], spans: list[Span]) -> list[tuple[Span, Option, float, float]]:
        """``nid``: the article's word ids; ``spans``: candidate spans sorted by start. Returns
        (span, option, posterior, posterior of keeping the span) for the spans whose best choice is an
        option, ordered by start and non-overlapping."""
        if not spans:
            return []
        S = len(spans)
        si, sj, keys, lists = zip(*spans)
        opts = [o for options in lists for o in options]
        toks, _, _, bonus, _, _, ids = zip(*opts)
        ofirst = np.zeros(S + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, lists), dtype=np.int64, count=S), out=ofirst[1:])
        ifirst = np.zeros(len(opts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, ids), dtype=np.int64, count=len(opts)), out=ifirst[1:])
        out = []
        for s, o, ps, pks, g in self.decide_arrays(
                nid, np.array(si, dtype=np.int64), np.array(sj, dtype=np.int64), ofirst,
                np.array(bonus, dtype=np.float64), np.fromiter(map(hash, toks), dtype=np.int64, count=len(opts)),
                np.fromiter(map(hash, keys), dtype=np.int64, count=S), ifirst,
                np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(ifirst[-1]))):
            o = opts[o]
            out.append((spans[s], Option(o[0], o[1], o[2], o[3], o[4], g, o[6]), ps, pks))
        return out

    def decide_arrays(self, nid, si, sj, ofirst, obonus, ohash, khash, ifirst, iflat) -> list[tuple]:
        """``decide`` on spans and options given as arrays (see ``_decide``). Returns (span index, option
        index, posterior, posterior of keeping, n-gram gain in nats) of the chosen spans, ordered by start
        and non-overlapping."""
        if not len(si):
            return []
        chosen, p, pk, gain = _decide(self.model._tables, self.model.vocab_size, self.model.n_bigrams, self.lmw,
                                      np.asarray(nid, dtype=np.int64), si, sj, ofirst, obonus, ohash, khash,
                                      ifirst, iflat)
        out = []
        last = -1
        for s, o, ps, pks, g in zip(*[np.compress(chosen >= 0, v).tolist()
                                      for v in (np.arange(len(si)), chosen, p, pk, gain)]):
            if si[s] >= last:  # a span may be chosen in two jobs only when split; the first met is kept
                out.append((s, o, ps, pks, g))
                last = sj[s]
        return out
