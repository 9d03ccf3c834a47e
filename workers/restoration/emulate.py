"""Spinner emulation: the spinner table read forwards, for evaluation and sample data.

Like a phrase-table spinner it scans the text left to right, takes the longest table original at each
token (case-insensitive, multiword), and with probability ``rate`` replaces it by one of its
substitutes chosen at random (weighted by the table's weights), with no regard to context. Inflection
follows the table's expansion (said -> mentioned, companies -> firms); the substitute copies the
capitalisation of the replaced span (sentence-initial, Title Case, ALL CAPS). Headlines and quotes are
spun like any other text.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from workers.restoration.casing import copy_case
from workers.restoration.table import SpinnerTable, default_table
from workers.restoration.tokens import tokenize


class SpunSpan(NamedTuple):
    """A substitution made by ``spin``: ``[start, end)`` of the substitute in the spun text, the
    ``original`` text it replaced (as it was written), the ``substitute`` and the table ``kind``."""

    start: int
    end: int
    original: str
    substitute: str
    kind: str


def spin(
    text: str,
    rate: float = 0.6,
    rng: random.Random | None = None,
    table: SpinnerTable | None = None,
) -> tuple[str, list[SpunSpan]]:
    """Spin ``text``; returns (spun text, substitutions in order).

    ``rate``: probability (0..1) that an occurrence of a table original is replaced;
    ``rng``: source of randomness (default ``random.Random(0)``, so results are reproducible);
    ``table``: default the shipped table. Never raises for a ``str``.
    """
    rng = rng if rng is not None else random.Random(0)
    table = table if table is not None else default_table()
    fwd = table.forward
    maxlen = table.max_len
    toks = tokenize(text)
    norms = [t.norm for t in toks]
    out: list[str] = []
    spans: list[SpunSpan] = []
    pos = 0  # next unread character of text
    outlen = 0
    i = 0
    N = len(toks)
    while i < N:
        hit = None
        for L in range(min(maxlen, N - i), 0, -1):
            key = tuple(norms[i : i + L])
            subs = fwd.get(key)
            if subs:
                hit = (L, subs)
                break
        if hit is None:
            i += 1
            continue
        L, subs = hit
        if rng.random() >= rate:
            i += L
            continue
        a, b = toks[i].start, toks[i + L - 1].end
        orig = text[a:b]
        if not orig[:1].isupper():
            # capitalised substitutes belong to name entries ("Family" -> "Circle of relatives"): a spinner
            # applies them to the name, not to the common word written in lower case
            subs = [s for s in subs if not s.text[:1].isupper()]
            if not subs:
                i += L
                continue
        total = sum(s.weight for s in subs)
        r = rng.random() * total
        choice = subs[-1]
        for s in subs:
            r -= s.weight
            if r <= 0:
                choice = s
                break
        sub = copy_case(orig, choice.text)
        chunk = text[pos:a]
        out.append(chunk)
        outlen += len(chunk)
        spans.append(SpunSpan(outlen, outlen + len(sub), orig, sub, choice.kind))
        out.append(sub)
        outlen += len(sub)
        pos = b
        i += L
    out.append(text[pos:])
    return "".join(out), spans
