"""The joint decision of the restorer (step 5 of ``restorer.py``): which option, if any, each candidate
span takes, and the posterior of that choice.

Input: the article's word ids (``NgramModel.ids(..., distinct_unknown=True)``) and its candidate spans, each
with options carrying a prior log-odds ``bonus`` (nats) and their own word ids. Two passes, each one
batched n-gram call (``NgramModel.score_flat``) and array arithmetic instead of a loop per combination:

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

Combinations of a group depend only on its shape (relative span positions, option lengths, context
available), so their windows are built once per shape as index arrays into the group's token pool and
cached (``_plan``).
"""

from __future__ import annotations

from itertools import chain
from typing import NamedTuple

import numpy as np

MAX_OPTIONS = 2  # per span, after the independent pass
MAX_COMBOS = 64  # per group of interacting spans
MAX_GROUP = 3  # spans decided jointly; longer chains of interacting spans are cut into groups of this size
MIN_POSTERIOR = 1e-3  # options below this independent posterior are dropped before the joint decision
_PLANS_MAX = 50_000  # cached group shapes
# random odd multipliers per window position: windows are compared by a sum of id x multiplier (mod 2**64)
_HASH = np.random.default_rng(20261130).integers(1, 2**63, size=4096, dtype=np.uint64) | np.uint64(1)


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


class _Job(NamedTuple):
    """The combinations (rows) of some of a group's spans (slots, indices into the group) as arrays:
    windows (``idx`` into the group's token pool, ``lens``, ``starts``), per (row, slot) entry its row,
    slot and choice (0 keeps the span, k takes option k), and per row its edits and tokens covered;
    ``merge``: rows giving the same text are one outcome."""

    n_rows: int
    idx: np.ndarray
    lens: np.ndarray
    starts: np.ndarray
    e_row: np.ndarray
    e_slot: np.ndarray
    e_ci: np.ndarray
    n_edits: np.ndarray
    covered: np.ndarray
    merge: bool


def _combos(spans, limit: int | None) -> list[tuple[int, ...]]:
    """All non-overlapping assignments (0 = keep, k = option k, at most ``limit`` options) of spans
    given as (i, j, option lengths) sorted by start; stops after ``MAX_COMBOS + 1``."""
    out: list[tuple[int, ...]] = []
    m = len(spans)
    cur: list[int] = []

    def dfs(s: int, last_end: int) -> bool:
        if s == m:
            out.append(tuple(cur))
            return len(out) > MAX_COMBOS
        cur.append(0)
        if dfs(s + 1, last_end):
            return True
        cur.pop()
        i, j, olens = spans[s]
        if i >= last_end:
            for k in range(1, min(len(olens), limit or len(olens)) + 1):
                cur.append(k)
                if dfs(s + 1, j):
                    return True
                cur.pop()
        return False

    dfs(0, -1)
    return out


def _plan(shape) -> list[_Job]:
    """Jobs of a group shape ``(ll, rl, ((i, j, option lengths), ...))``: ``ll``/``rl`` context tokens
    available left and right, span positions relative to the group's first token. The group's token pool
    is its left context, its tokens, its right context, then every option's ids in span order."""
    ll, rl, spans = shape
    b = max(j for _, j, _ in spans)
    off = ll + b + rl
    opt_off = []
    for _, _, olens in spans:
        opt_off.append([])
        for n in olens:
            opt_off[-1].append(off)
            off += n

    def job(slots: tuple[int, ...], combos: list[tuple[int, ...]]) -> _Job:
        a2 = spans[slots[0]][0]
        b2 = max(spans[s][1] for s in slots)
        lo, hi = max(a2 - 2, -ll), min(b2 + 2, b + rl)
        idx: list[int] = []
        lens, e_row, e_slot, e_ci, n_edits, covered = [], [], [], [], [], []
        for r, c in enumerate(combos):
            w = list(range(ll + lo, ll + a2))
            pos = a2
            for s, ci in zip(slots, c):
                e_row.append(r), e_slot.append(s), e_ci.append(ci)
                if ci:
                    i, j, olens = spans[s]
                    w += range(ll + pos, ll + i)
                    w += range(opt_off[s][ci - 1], opt_off[s][ci - 1] + olens[ci - 1])
                    pos = j
            w += range(ll + pos, ll + hi)
            idx += w
            lens.append(len(w))
            n_edits.append(sum(1 for ci in c if ci))
            covered.append(sum(spans[s][1] - spans[s][0] for s, ci in zip(slots, c) if ci))
        arr = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
        return _Job(len(combos), arr(idx), arr(lens), np.full(len(combos), a2 - lo, dtype=np.int64),
                    arr(e_row), arr(e_slot), arr(e_ci), arr(n_edits), arr(covered),
                    not (len(slots) == 1 and len(combos) <= 2))

    everything = tuple(range(len(spans)))
    combos = _combos(spans, None)
    if len(combos) <= MAX_COMBOS:
        return [job(everything, combos)]
    combos = _combos(spans, 1)
    if len(combos) <= MAX_COMBOS:
        return [job(everything, combos)]
    return [job((s,), [(0,), (1,)]) for s in everything]  # too dense: decide span by span


def _window_hash(ids: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """A 64-bit hash per window of ``ids`` (windows one after the other, ``lens`` long): equal windows
    hash equal; different ones collide with probability about 2**-64."""
    offs = np.cumsum(lens) - lens
    local = np.arange(len(ids)) - np.repeat(offs, lens)
    h = (ids.astype(np.uint64) + np.uint64(1)) * _HASH[np.minimum(local, len(_HASH) - 1)]
    return np.add.reduceat(h, offs) + lens.astype(np.uint64) * _HASH[0] if len(h) else np.zeros(0, np.uint64)


class Decider:
    """Joint decision over an article's candidate spans with an n-gram ``model`` (``score_flat``) whose
    log10 scores are scaled by ``lm_weight`` (natural-log units per log10 unit)."""

    def __init__(self, model, lm_weight: float):
        self.model = model
        self.lmw = lm_weight
        self._plans: dict = {}

    def decide(self, nid: list[int], spans: list[Span]) -> list[tuple[Span, Option, float, float]]:
        """``nid``: the article's word ids; ``spans``: candidate spans sorted by start. Returns
        (span, option, posterior, posterior of keeping the span) for the spans whose best choice is an
        option, ordered by start and non-overlapping."""
        if not spans:
            return []
        pruned, single, gains = self._independent(nid, spans)
        if not pruned:
            return []
        return self._joint(nid, pruned, single, gains)

    # ------------------------------------------------------------------ pass 1
    def _independent(self, nid, spans):
        N = len(nid)
        S = len(spans)
        opts = [o for sp in spans for o in sp.options]
        n_opts = np.fromiter((len(sp.options) for sp in spans), dtype=np.int64, count=S)
        counts = n_opts + 1  # windows per span: keeping it, then each option
        first = np.cumsum(counts) - counts
        i = np.fromiter((sp.i for sp in spans), dtype=np.int64, count=S)
        j = np.fromiter((sp.j for sp in spans), dtype=np.int64, count=S)
        olen = np.fromiter((len(o.ids) for o in opts), dtype=np.int64, count=len(opts))
        src = np.fromiter(chain(nid, *(o.ids for o in opts)), dtype=np.int64, count=N + int(olen.sum()))
        # each window is three pieces of ``src``: left context, the span or an option, right context
        sw = np.repeat(np.arange(S), counts)
        keep = np.zeros(len(sw), dtype=bool)
        keep[first] = True
        left = np.maximum(i - 2, 0)[sw]
        mid = np.empty(len(sw), dtype=np.int64)
        mid_len = np.empty(len(sw), dtype=np.int64)
        mid[keep], mid_len[keep] = i, j - i
        mid[~keep], mid_len[~keep] = N + np.cumsum(olen) - olen, olen
        pieces = np.stack((left, mid, j[sw]), 1).ravel()
        piece_len = np.stack((i[sw] - left, mid_len, np.minimum(2, N - j)[sw]), 1).ravel()
        ends = np.cumsum(piece_len)
        idx = np.repeat(pieces - ends + piece_len, piece_len) + np.arange(int(ends[-1]))
        lens = piece_len.reshape(-1, 3).sum(1)
        sc = self.model.score_flat(src[idx], lens, i[sw] - left) * self.lmw
        bonus = np.zeros(len(sw))
        bonus[~keep] = [o.bonus for o in opts]
        v = sc + bonus
        ex = np.exp(v - np.maximum.reduceat(v, first)[sw])
        post = ex / np.add.reduceat(ex, first)[sw]
        # per span, the MAX_OPTIONS likeliest options above MIN_POSTERIOR, likeliest first
        ow = np.flatnonzero(~keep)
        rank_in = np.arange(len(sw)) - first[sw]  # 1 + the option's index in its span
        order = ow[np.lexsort((rank_in[ow], -post[ow], sw[ow]))]
        pos = np.arange(len(order)) - (np.cumsum(n_opts) - n_opts)[sw[order]]
        order = order[(pos < MAX_OPTIONS) & (post[order] >= MIN_POSTERIOR)]
        keeps = sc[first].tolist()
        pruned: list[Span] = []
        single: list[list[float]] = []  # values of keeping and of each kept option
        single_gains: list[list[float]] = []  # n-gram gain of each kept option, nats
        cur = -1
        for s, t, val in zip(sw[order].tolist(), (rank_in[order] - 1).tolist(), v[order].tolist()):
            if s != cur:
                cur, sp, kp = s, spans[s], keeps[s]
                kept: list[Option] = []
                gains: list[float] = []
                pruned.append(Span(sp.i, sp.j, sp.key, kept))
                single.append([kp])
                single_gains.append(gains)
            o = sp.options[t]
            g = val - o.bonus - kp
            kept.append(o)
            gains.append(g)
            single[-1].append(kp + g + o.bonus)
        return pruned, single, single_gains

    # ------------------------------------------------------------------ pass 2
    def _joint(self, nid, pruned: list[Span], single: list[list[float]], gains: list[list[float]]):
        N = len(nid)
        groups: list[list[int]] = []
        end = -10
        for k, sp in enumerate(pruned):
            # overlapping spans always join (the words of one long spun name are one decision); spans
            # within two tokens of each other join up to MAX_GROUP
            if groups and (sp.i < end or (sp.i <= end + 2 and len(groups[-1]) < MAX_GROUP)):
                groups[-1].append(k)
                end = max(end, sp.j)
            else:
                groups.append([k])
                end = sp.j
        # A job is a set of combinations (rows) of some spans (slots); arrays are put together once.
        jobs: list[_Job] = []
        job_slot: list[int] = []  # first slot of each job's group
        scored: list[tuple[_Job, int, int]] = []  # (job, its index, pool offset): rows scored here
        slot_spans: list[int] = []  # index into pruned, per slot
        pool: list[int] = []
        s_vals: list[float] = []  # values of the rows of single spans (from the independent pass)
        s_keys: list[int] = []
        width = MAX_OPTIONS + 1
        plans = self._plans
        for g in groups:
            base_slot = len(slot_spans)
            slot_spans += g
            if len(g) == 1:
                sp = pruned[g[0]]
                vals = single[g[0]]
                jb = plans.get((len(vals), sp.j - sp.i))
                if jb is None:
                    jb = plans[(len(vals), sp.j - sp.i)] = _single_job(len(vals), sp.j - sp.i)
                jobs.append(jb)
                job_slot.append(base_slot)
                s_vals += vals
                if len(vals) > 2:  # options giving the same text are one outcome
                    s_keys += [hash(sp.key)] + [hash(o.toks) for o in sp.options]
                else:
                    s_keys += (0, 0)
                continue
            gs = [pruned[k] for k in g]
            a = gs[0].i
            b = max(s.j for s in gs)
            ll, rl = min(2, a), min(2, N - b)
            shape = (ll, rl, tuple((s.i - a, s.j - a, tuple(len(o.ids) for o in s.options)) for s in gs))
            plan = plans.get(shape)
            if plan is None:
                if len(plans) > _PLANS_MAX:
                    plans.clear()
                plan = plans[shape] = _plan(shape)
            base_pool = len(pool)
            pool += nid[a - ll : b + rl]
            for s in gs:
                for o in s.options:
                    pool += o.ids
            for jb in plan:
                scored.append((jb, len(jobs), base_pool))
                jobs.append(jb)
                job_slot.append(base_slot)

        cat = np.concatenate
        jrows = np.fromiter((jb.n_rows for jb in jobs), dtype=np.int64, count=len(jobs))
        jfirst = np.cumsum(jrows) - jrows
        R = int(jrows.sum())
        job = np.repeat(np.arange(len(jobs)), jrows)
        jent = np.fromiter((len(jb.e_row) for jb in jobs), dtype=np.int64, count=len(jobs))
        er = cat([jb.e_row for jb in jobs]) + np.repeat(jfirst, jent)
        es = cat([jb.e_slot for jb in jobs]) + np.repeat(np.asarray(job_slot, dtype=np.int64), jent)
        ec = cat([jb.e_ci for jb in jobs])
        n_slots = len(slot_spans)
        bonus = np.zeros(n_slots * width)
        for s, k in enumerate(slot_spans):
            for t, o in enumerate(pruned[k].options, start=1):
                bonus[s * width + t] = o.bonus
        is_scored = np.zeros(len(jobs), dtype=bool)
        is_scored[[k for _, k, _ in scored]] = True
        row_scored = is_scored[job]
        val = np.empty(R)
        okey = np.arange(R, dtype=np.uint64)  # one outcome per row unless merged below
        if s_vals:
            val[~row_scored] = s_vals
            sk = np.asarray(s_keys, dtype=np.int64).astype(np.uint64)
            merged = np.repeat(np.asarray([jb.merge for jb in jobs]), jrows)[~row_scored]
            okey[np.flatnonzero(~row_scored)[merged]] = sk[merged]
        if scored:
            idx = cat([jb.idx for jb, _, _ in scored])
            idx += np.repeat(np.asarray([p for _, _, p in scored], dtype=np.int64),
                             [len(jb.idx) for jb, _, _ in scored])
            ids = np.asarray(pool, dtype=np.int64)[idx]
            lens = cat([jb.lens for jb, _, _ in scored])
            sc = self.model.score_flat(ids, lens, cat([jb.starts for jb, _, _ in scored]))
            bsum = np.bincount(er, weights=np.where(ec > 0, bonus[es * width + ec], 0.0), minlength=R)
            pr = np.flatnonzero(row_scored)
            val[pr] = sc * self.lmw + bsum[pr]
            merged = np.repeat([jb.merge for jb, _, _ in scored], [jb.n_rows for jb, _, _ in scored])
            okey[pr[merged]] = _window_hash(ids, lens)[merged]
        rows = np.arange(R)
        w = np.exp(val - np.maximum.reduceat(val, jfirst)[job])
        z = np.add.reduceat(w, jfirst)
        # outcome classes: equal keys within one job (the job mixed in so jobs never share a class)
        _, cls = np.unique(okey ^ (job.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)), return_inverse=True)
        tot = np.bincount(cls, weights=w)[cls]
        # the best outcome: most mass, the first one met on ties
        top = tot == np.maximum.reduceat(tot, jfirst)[job]
        bq = cls[np.minimum.reduceat(np.where(top, rows, R), jfirst)]
        in_bq = cls == bq[job]
        # within it: fewest edits, then most tokens covered, then best score, then first met
        cand = np.flatnonzero(in_bq)
        n_edits = cat([jb.n_edits for jb in jobs])
        covered = cat([jb.covered for jb in jobs])
        order = cand[np.lexsort((cand, -val[cand], -covered[cand], n_edits[cand], job[cand]))]
        firsts = order[np.r_[True, job[order][1:] != job[order][:-1]]]
        best_row = np.empty(len(jobs), dtype=np.int64)
        best_row[job[firsts]] = firsts
        is_best = er == best_row[job[er]]
        best_ci = np.zeros(n_slots, dtype=np.int64)
        best_ci[es[is_best]] = ec[is_best]
        we = w[er]
        zs = z[job[er]][np.unique(es, return_index=True)[1]]  # each slot belongs to one job
        p = np.bincount(es, weights=we * ((ec == best_ci[es]) | in_bq[er]), minlength=n_slots) / zs
        pk = np.bincount(es, weights=we * (ec == 0), minlength=n_slots) / zs
        out = []
        for s in np.flatnonzero(best_ci).tolist():
            ps = float(p[s])
            ci = int(best_ci[s]) - 1
            k = slot_spans[s]
            opt = pruned[k].options[ci]._replace(gain=gains[k][ci])
            out.append((pruned[k], opt, ps, min(1.0 - ps, float(pk[s]))))
        # a span may appear in two jobs only when split; keep non-overlapping, first met first
        out.sort(key=lambda t: t[0].i)
        res = []
        last = -1
        for t in out:
            if t[0].i >= last:
                res.append(t)
                last = t[0].j
        return res


def _single_job(n_rows: int, length: int) -> _Job:
    """The job of a span decided alone: keeping it or taking one of its ``n_rows - 1`` options, valued by
    the independent pass (no windows); ``length`` in tokens."""
    ci = np.arange(n_rows)
    edits = np.minimum(ci, 1)
    empty = np.zeros(0, dtype=np.int64)
    return _Job(n_rows, empty, empty, empty, ci, np.zeros(n_rows, dtype=np.int64), ci, edits,
                edits * length, n_rows > 2)
