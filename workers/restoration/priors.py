"""Priors of spun forms from corpus counts, and the article-level spin evidence.

For a spun form ``s`` (a key of the table's reverse index) with candidate originals ``o`` picked by the
spinner with probability ``w(s|o)`` per rewritten occurrence, and ``rho`` the share of table originals a
spinner rewrites, the expected rate of ``s`` per corpus token is

    clean article:  c(s) / N
    spun article:   (c(s) * (1 - rho * m(s)) + rho * sum_o c(o) * w(s|o)) / N

where ``c`` are counts in the n-gram model's corpus (US Senate press releases) and ``m(s)`` is 1 when ``s``
is itself a table original (then the spinner rewrites some of its occurrences). The log of their ratio
(``llr``, nats, smoothed with ``ALPHA`` pseudo-counts and clipped to +-``CLIP``) is the form's evidence
that the article is spun: "1000's" (never in clean text) gives a large positive value, "mentioned" a
small one. A table original left unchanged gives ``log(1 - rho)``: the evidence that the article is clean.
The article's evidence (``article_evidence``) sums these at each rate of ``RHO_GRID`` and averages the
likelihood ratios over the rates, so lightly spun articles are not taken for clean ones.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol, Sequence

import numpy as np

from workers.restoration.table import Candidate, SpinnerTable
from workers.restoration.tokens import norms, spelling_key

ALPHA = 1.0
CLIP = 6.0
# Candidates a form offers the decision: a word of a large dictionary may stand for dozens of originals,
# and the n-gram model only has to rank the likely ones.
BEST_CANDIDATES = 4


class CountModel(Protocol):
    """What the priors need from the n-gram model: exact corpus counts of 1-3 token n-grams, and word ids."""

    total: int

    def count(self, tokens: Sequence[str]) -> int: ...

    def ids(self, tokens: Sequence[str], distinct_unknown: bool = False) -> list[int]: ...


class FormInfo(NamedTuple):
    """Prior facts about one spun form: ``count`` in the corpus, ``llr`` (nats, see module doc),
    ``is_original`` (the form is itself a table original), ``candidates`` as (candidate, its token tuple,
    its corpus count)."""

    count: int
    llr: float
    is_original: bool
    candidates: tuple[tuple[Candidate, tuple[str, ...], int], ...]
    llrs: tuple[float, ...] = ()  # llr at each rate of RHO_GRID
    # the BEST_CANDIDATES likeliest candidates by weight x corpus count, as (candidate, its token tuple,
    # its corpus count, (original, kind), word ids of the token tuple (``NgramModel.ids(distinct_unknown=True)``))
    best: tuple = ()


def form_info(key: tuple[str, ...], table: SpinnerTable, model: CountModel, rho: float) -> FormInfo:
    """Compute ``FormInfo`` of the spun form ``key`` (token tuple of ``table.reverse``)."""
    spun_key = spelling_key(" ".join(key))
    # a respelling ("colour" for color, "it's" for it is) is no spinner's substitution worth undoing
    cands = [c for c in table.reverse.get(key, []) if spelling_key(c.original) != spun_key]
    c_s = model.count(key)
    m = key in table.forward
    expected = 0.0
    out = []
    for c in cands:
        otoks = tuple(norms(c.original))
        c_o = model.count(otoks)
        out.append((c, otoks, c_o))
        expected += c_o * c.weight
    def llr_at(r: float) -> float:
        spun_rate = c_s * (1 - r * m) + r * expected
        return max(-CLIP, min(CLIP, math.log((spun_rate + ALPHA) / (c_s + ALPHA))))

    best = tuple(
        (c, otoks, c_o, (c.original, c.kind), tuple(model.ids(otoks, distinct_unknown=True)))
        for c, otoks, c_o in sorted(out, key=lambda t: -t[0].weight * (t[2] + 1))[:BEST_CANDIDATES]
    )
    return FormInfo(c_s, llr_at(rho), m, tuple(out), tuple(llr_at(r) for r in RHO_GRID), best)


def unchanged_llr(rho: float) -> float:
    """Evidence (nats) from one table original left as it is: ``log(1 - rho)``."""
    return math.log(max(1e-6, 1 - rho))


# Spinners differ in how much they rewrite (hand-spun news: 20-40 % of the table's originals; the
# benchmark's emulation 40-90 %). The article evidence is the likelihood ratio averaged over these rates
# (uniform prior).
RHO_GRID = (0.3, 0.45, 0.6, 0.75, 0.9)
_UNCHANGED_GRID = tuple(unchanged_llr(r) for r in RHO_GRID)


def article_evidence(counts: np.ndarray, llrs: np.ndarray, n_unchanged: int) -> tuple[list[float], float]:
    """Evidence of an article from its spun forms, ``counts`` (occurrences of each form) and ``llrs`` (each
    form's ``FormInfo.llrs``, one row per form), and the number of table originals left unchanged. Returns
    (llr per rate of ``RHO_GRID``, llr averaged over the rates), nats."""
    tot = (n_unchanged * np.asarray(_UNCHANGED_GRID) + counts @ llrs).tolist() if len(counts) else \
        [n_unchanged * u for u in _UNCHANGED_GRID]
    return tot, mean_llr(tot)


def mean_llr(tot: list[float]) -> float:
    """log of the mean of exp(tot) (log-sum-exp, stable)."""
    mx = max(tot)
    return mx + math.log(sum(math.exp(t - mx) for t in tot) / len(tot))


TOP_SIGNATURES = 3  # occurrences that make an article's strongest signatures


def top_signatures(counts: np.ndarray, llr: np.ndarray) -> float:
    """Sum of the ``TOP_SIGNATURES`` largest positive form llrs (nats, at the calibrated rate) over the
    article's occurrences (``counts`` of each form, ``llr`` its ``FormInfo.llr``). A short text has too few
    forms for the length-normalised sum to speak, but two forms clean text almost never has are a
    signature."""
    pos = llr > 0
    vals = np.sort(np.repeat(llr[pos], np.minimum(counts[pos], TOP_SIGNATURES)))[::-1]
    return float(sum(vals[:TOP_SIGNATURES].tolist()))
