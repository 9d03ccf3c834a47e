"""Candidate options of an article's spans and their priors (step 4 of ``restorer.py``), compiled.

``CandidateStore`` keeps, per form of ``matching.FormIndex``, the facts the priors need (``priors.FormInfo``,
computed the first time the form is met) as arrays, and its ``BEST_CANDIDATES`` originals one after the
other in a growing store. ``_options`` then turns the spans of the scan into options: per span, each
family's probability of being in use without the span's own evidence, the prior mass of each original
summed over the families that hold the pair, the capitalisation and name rules, and the prior log-odds
(``bonus``, nats) of each option against keeping the span.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import njit

from workers.restoration.ngram import _count
from workers.restoration.priors import RHO_GRID

NAME_PENALTY = 3.0  # nats against turning a capitalised mid-sentence common word into another word
NAME_BONUS = 2.0  # nats for it when the restored name is attested in the corpus and the spun one is not
NAME_MIN_COUNT = 3  # corpus count for a restored name to be attested
RARE_NAME_COUNT = 10  # a spun name form seen fewer times in the corpus may stand alone ("Fb")
PRE_OPTIONS = 4  # per span, scored by the n-gram model
MIN_BONUS = -16.0  # nats; options with a lower prior log-odds are not scored
MIN_FAMILY_PI = 1e-4  # a family below this probability of being in use lends no candidates


@njit(cache=True, inline="always")
def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-min(x, 700.0)))
    e = math.exp(max(x, -700.0))
    return e / (1.0 + e)


@njit(cache=True)
def _ngram_count(tab, V: int, ids, n: int) -> int:
    """Corpus count of the 2-3 word ids ``ids[:n]`` (0 when one is unknown)."""
    for q in range(n):
        if ids[q] <= 0 or ids[q] >= V:
            return 0
    return _count(tab, ids[:n])


@njit(cache=True)
def _name_attested(tab, V, nid, i, j, oids, prev_cap, next_cap, min_count) -> bool:
    """The restored span with a capitalised neighbour is a corpus n-gram (count >= ``min_count``) and the
    spun one is not (both at most 3 tokens)."""
    spun = np.empty(3, dtype=np.int64)
    orig = np.empty(3, dtype=np.int64)
    for side in range(2):
        if side == 0 and not prev_cap:
            continue
        if side == 1 and not (next_cap and j < len(nid)):
            continue
        ns = (j - i) + 1
        no = len(oids) + 1
        if ns > 3 or no > 3:
            continue
        if side == 0:
            spun[0], orig[0] = nid[i - 1], nid[i - 1]
            spun[1:ns] = nid[i:j]
            orig[1:no] = oids
        else:
            spun[: ns - 1] = nid[i:j]
            orig[: no - 1] = oids
            spun[ns - 1], orig[no - 1] = nid[j], nid[j]
        if _ngram_count(tab, V, spun, ns) == 0 and _ngram_count(tab, V, orig, no) >= min_count:
            return True
    return False


@njit(cache=True)
def _options(tab, V, nid, e_i, e_j, e_g, e_own, e_fam, e_upper, caps, capw, midcap_tok,
             g_llr, g_count, g_orig, g_ncand, g_best, g_nbest,
             c_w, c_o, c_origid, c_name, c_origcap, c_ids, c_nids, ids_flat,
             logits, means, tops, priors, c0, c_llr, c_top, rho):
    """Options of the scan's span entries (start ``e_i``, end ``e_j``, form ``e_g``, counted as evidence
    ``e_own``, family ``e_fam``; sorted by start, end, family). Returns per span with options its start,
    end, key form, the form with the most candidates, the clamped family probability and its options'
    range, and per option its store index, bonus (nats), capitalised-mid-sentence flag and whether the
    restored name is attested."""
    E = len(e_i)
    N = len(nid)
    sp_i = np.empty(E, dtype=np.int64)
    sp_j = np.empty(E, dtype=np.int64)
    sp_key = np.empty(E, dtype=np.int64)
    sp_f = np.empty(E, dtype=np.int64)
    sp_pi = np.empty(E)
    sp_first = np.zeros(E + 1, dtype=np.int64)
    o_c = np.empty(E * PRE_OPTIONS, dtype=np.int64)
    o_bonus = np.empty(E * PRE_OPTIONS)
    o_att = np.zeros(E * PRE_OPTIONS, dtype=np.bool_)
    room = 8 * len(logits) + 8  # merged originals of one span: at most the best candidates of each family
    m_orig = np.empty(room, dtype=np.int64)
    m_mass = np.empty(room)
    m_c = np.empty(room, dtype=np.int64)
    S, O = 0, 0
    e = 0
    while e < E:
        e2 = e + 1
        while e2 < E and e_i[e2] == e_i[e] and e_j[e2] == e_j[e]:
            e2 += 1
        i, j = e_i[e], e_j[e]
        f = -1
        pi_tot, keep_mass = 0.0, 0.0
        nm = 0
        for k in range(e, e2):
            fi, g = e_fam[k], e_g[k]
            lo = logits[fi]
            if e_own[k]:  # the family's posterior without the span's own evidence
                lo = c0 + c_llr * (means[fi] - g_llr[g]) + c_top * (tops[fi] - max(0.0, g_llr[g])) + priors[fi]
            pi = _sigmoid(lo)
            if pi < MIN_FAMILY_PI:
                continue
            if f < 0 or g_ncand[g] > g_ncand[f]:
                f = g
            pi_tot = max(pi_tot, pi)
            keep_mass = max(keep_mass, pi * rho * (1.0 if g_orig[g] else 0.0))
            for c in range(g_best[g], g_best[g] + g_nbest[g]):
                at = -1
                for q in range(nm):
                    if m_orig[q] == c_origid[c]:
                        at = q
                        break
                if at < 0 and nm < len(m_orig):
                    m_orig[nm], m_mass[nm], m_c[nm] = c_origid[c], pi * rho * c_w[c], c
                    nm += 1
                elif at >= 0:
                    m_mass[at] += pi * rho * c_w[c]
        if f < 0:
            e = e2
            continue
        order = np.arange(nm)
        if nm > PRE_OPTIONS:  # large dictionaries: score only the likeliest by prior x frequency (stable)
            score = np.empty(nm)
            for q in range(nm):
                score[q] = -m_mass[q] * (c_o[m_c[q]] + 1)
            order = np.argsort(score, kind="mergesort")[:PRE_OPTIONS]
        log_keep = math.log(max(1e-6, 1 - keep_mass))
        cap = caps[i]
        midcap = midcap_tok[i]
        prev_cap = i > 0 and capw[i - 1]
        next_cap = j < N and capw[j]
        inner = 0
        for q in range(i, j):
            inner += caps[q]
        inner_cap = j - i > 1 and inner >= 2
        O0 = O
        for q in order:
            c = m_c[q]
            if c_nids[c] == 0:
                continue
            bonus = math.log(max(1e-12, m_mass[q])) - log_keep
            attested = False
            if c_name[c]:
                # a name part stands next to another one, unless the spun form is itself no name clean text uses
                if not cap or not (next_cap or prev_cap or inner_cap or g_count[f] < RARE_NAME_COUNT):
                    continue
                nb = np.empty(j - i + 1, dtype=np.int64)
                if prev_cap and i > 0:
                    nb[0] = nid[i - 1]
                    nb[1:] = nid[i:j]
                elif j < N:
                    nb[: j - i] = nid[i:j]
                    nb[j - i] = nid[j]
                else:
                    nb = nb[:0]
                if len(nb) > j - i and len(nb) <= 3 and _ngram_count(tab, V, nb, len(nb)) > 0:
                    continue  # the spun name is a real name in the corpus
            elif c_origcap[c] and not cap:
                continue  # "wall road" is not the street
            elif midcap and not c_origcap[c] and not e_upper[e]:
                oids = ids_flat[c_ids[c] : c_ids[c] + c_nids[c]]
                attested = (prev_cap or next_cap) and _name_attested(tab, V, nid, i, j, oids, prev_cap, next_cap,
                                                                     NAME_MIN_COUNT)
                bonus += NAME_BONUS if attested else -NAME_PENALTY
            if bonus < MIN_BONUS:
                continue  # no n-gram gain could make it win: saves scoring on clean articles
            o_c[O], o_bonus[O], o_att[O] = c, bonus, attested
            O += 1
        if O > O0:
            sp_i[S], sp_j[S], sp_key[S], sp_f[S] = i, j, e_g[e], f
            sp_pi[S] = min(max(pi_tot, 1e-9), 1 - 1e-9)
            sp_first[S + 1] = O
            S += 1
        e = e2
    return sp_i[:S], sp_j[:S], sp_key[:S], sp_f[:S], sp_pi[:S], sp_first[: S + 1], o_c[:O], o_bonus[:O], o_att[:O]


class CandidateStore:
    """Per form of a ``FormIndex`` (``G`` forms), its ``FormInfo`` facts as arrays once ``ensure`` has met it,
    and its best candidates in a store that grows as forms are met; ``originals[c]``/``kinds[c]``: the original
    of store entry ``c`` as the table writes it and its kind.
    ``form_info(key, family)``: computes a ``FormInfo`` (``priors.form_info`` on the family's table); this store
    is its only cache."""

    def __init__(self, index, form_info):
        G = len(index.keys)
        self._index = index
        self._form_info = form_info
        self._lock = threading.Lock()
        self.ready = np.zeros(G, dtype=np.bool_)
        self.llr = np.zeros(G)
        self.llrs = np.zeros((G, len(RHO_GRID)))  # llr at each rate of RHO_GRID
        self.count = np.zeros(G, dtype=np.int64)
        self.orig = np.zeros(G, dtype=np.bool_)
        self.ncand = np.zeros(G, dtype=np.int64)
        self.best = np.zeros(G, dtype=np.int64)
        self.nbest = np.zeros(G, dtype=np.int64)
        self.khash = np.zeros(G, dtype=np.int64)
        self.originals: list[str] = []  # per store entry: the original as the table writes it
        self.kinds: list[str] = []  # and its table kind
        self._orig_ids: dict = {}
        self._n = 0
        self._n_ids = 0
        self._cols = self._grow_cols(256)
        self._ids_arr = np.zeros(1024, dtype=np.int64)

    @staticmethod
    def _grow_cols(n, old=None):
        cols = {"w": np.zeros(n), "c_o": np.zeros(n, dtype=np.int64), "origid": np.zeros(n, dtype=np.int64),
                "name": np.zeros(n, dtype=np.bool_), "origcap": np.zeros(n, dtype=np.bool_),
                "ids": np.zeros(n, dtype=np.int64), "nids": np.zeros(n, dtype=np.int64),
                "hash": np.zeros(n, dtype=np.int64), "form": np.zeros(n, dtype=np.int64)}
        if old is not None:
            for k, v in old.items():
                cols[k][: len(v)] = v
        return cols

    def ensure(self, gids: np.ndarray) -> None:
        """Compute the facts of the forms ``gids`` not met before."""
        new = gids[~self.ready[gids]]
        if not len(new):
            return
        with self._lock:
            for g in np.unique(new).tolist():
                if not self.ready[g]:
                    self._add(g)

    def _add(self, g: int) -> None:
        key = self._index.keys[g]
        ff = self._form_info(key, int(self._index.family[g]))
        self.llr[g], self.count[g], self.orig[g], self.ncand[g] = ff.llr, ff.count, ff.is_original, len(ff.candidates)
        self.llrs[g] = ff.llrs
        self.khash[g] = hash(key)
        n = self._n + len(ff.best)
        if n > len(self._cols["w"]):
            self._cols = self._grow_cols(2 * n, self._cols)
        cols = self._cols
        self.best[g], self.nbest[g] = self._n, len(ff.best)
        for k, rec in enumerate(ff.best, start=self._n):
            c, otoks, c_o, ok, ids = rec
            cols["w"][k], cols["c_o"][k] = c.weight, c_o
            cols["origid"][k] = self._orig_ids.setdefault(ok, len(self._orig_ids))
            cols["name"][k], cols["origcap"][k] = c.kind == "name", c.original[:1].isupper()
            cols["ids"][k], cols["nids"][k], cols["hash"][k] = self._n_ids, len(ids) if otoks else 0, hash(otoks)
            cols["form"][k] = g
            if self._n_ids + len(ids) > len(self._ids_arr):
                grown = np.zeros(2 * (self._n_ids + len(ids)), dtype=np.int64)
                grown[: self._n_ids] = self._ids_arr[: self._n_ids]
                self._ids_arr = grown
            self._ids_arr[self._n_ids : self._n_ids + len(ids)] = ids
            self._n_ids += len(ids)
            self.originals.append(c.original)
            self.kinds.append(c.kind)
        self._n = n
        self.ready[g] = True

    def form_of(self, c: np.ndarray) -> np.ndarray:
        """The form whose best candidates hold store entries ``c``."""
        return self._cols["form"][c]

    def arrays(self) -> tuple:
        """The store's columns for ``_options`` and the decision: weight, corpus count, original id, is a
        name, original capitalised, ids start, ids length (0: no tokens), text hash, and the ids."""
        cols = self._cols
        return (cols["w"], cols["c_o"], cols["origid"], cols["name"], cols["origcap"], cols["ids"], cols["nids"],
                cols["hash"], self._ids_arr)
