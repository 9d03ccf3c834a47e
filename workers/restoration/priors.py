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
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol, Sequence

from workers.restoration.table import Candidate, SpinnerTable

ALPHA = 1.0
CLIP = 6.0


class CountModel(Protocol):
    """What the priors need from the n-gram model: exact corpus counts of 1-3 token n-grams."""

    total: int

    def count(self, tokens: Sequence[str]) -> int: ...


class FormInfo(NamedTuple):
    """Prior facts about one spun form: ``count`` in the corpus, ``llr`` (nats, see module doc),
    ``is_original`` (the form is itself a table original), ``candidates`` as (candidate, its token tuple,
    its corpus count)."""

    count: int
    llr: float
    is_original: bool
    candidates: tuple[tuple[Candidate, tuple[str, ...], int], ...]


def form_info(key: tuple[str, ...], table: SpinnerTable, model: CountModel, rho: float) -> FormInfo:
    """Compute ``FormInfo`` of the spun form ``key`` (token tuple of ``table.reverse``)."""
    from workers.restoration.tokens import norms

    cands = table.reverse.get(key, [])
    c_s = model.count(key)
    m = key in table.forward
    expected = 0.0
    out = []
    for c in cands:
        otoks = tuple(norms(c.original))
        c_o = model.count(otoks)
        out.append((c, otoks, c_o))
        expected += c_o * c.weight
    spun_rate = c_s * (1 - rho * m) + rho * expected
    llr = math.log((spun_rate + ALPHA) / (c_s + ALPHA))
    return FormInfo(c_s, max(-CLIP, min(CLIP, llr)), m, tuple(out))


def unchanged_llr(rho: float) -> float:
    """Evidence (nats) from one table original left as it is: ``log(1 - rho)``."""
    return math.log(max(1e-6, 1 - rho))
