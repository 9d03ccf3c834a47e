"""Word alignment of a spun copy to its source, and restoration of the copy from it.

The alignment is difflib's ``SequenceMatcher`` over normalised tokens (no junk heuristic: function
words are the anchors here). A ``replace`` block of at most ``max_span`` tokens on each side, between
aligned words, is a substitution the spinner made; longer blocks, insertions and deletions are parts
the copy does not share with its source (an added paragraph, a rewritten sentence) and are left to
the restorer.
"""

from __future__ import annotations

import dataclasses
from difflib import SequenceMatcher
from typing import Callable, NamedTuple, Sequence

from workers.restoration.edits import Edit
from workers.restoration.tokens import Token, tokenize

#: Confidence of a source edit by the aligned tokens around it (both sides, at least 2 / at least 1 / fewer).
CONFIDENCE = (0.98, 0.9, 0.6)


class Substitution(NamedTuple):
    """One aligned substitution: the copy's span ``[start, end)`` (characters) with its text ``spun``,
    the source's wording ``original``, normalised ``spun_norm``/``original_norm`` (space-joined tokens),
    the aligned normalised words around it (``left``, ``right``; "" at an edge) and ``flank``, the number
    of aligned tokens on its shorter side (capped at 2; the start or end of both texts counts as 2)."""

    start: int
    end: int
    spun: str
    original: str
    spun_norm: str
    original_norm: str
    left: str
    right: str
    flank: int


class Alignment(NamedTuple):
    """The result of :func:`align`: ``substitutions``; ``unaligned``: character spans of the copy with no
    counterpart in the source; ``aligned_tokens``: copy tokens equal to a source token."""

    substitutions: list[Substitution]
    unaligned: list[tuple[int, int]]
    aligned_tokens: int


def _span(text: str, toks: Sequence[Token], i: int, j: int) -> tuple[int, int, str]:
    if i >= j:
        pos = toks[i].start if i < len(toks) else len(text)
        return pos, pos, ""
    return toks[i].start, toks[j - 1].end, text[toks[i].start : toks[j - 1].end]


def align(copy: str, source: str, max_span: int = 4) -> Alignment:
    """Align ``copy`` to ``source`` word by word (see the module docstring). ``max_span``: longest
    substitution, tokens per side. Time is about linear for texts that mostly agree."""
    ct, st = tokenize(copy), tokenize(source)
    cn, sn = [t.norm for t in ct], [t.norm for t in st]
    ops = SequenceMatcher(None, cn, sn, autojunk=False).get_opcodes()
    subs: list[Substitution] = []
    unaligned: list[tuple[int, int]] = []
    aligned = 0
    for k, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            aligned += i2 - i1
            continue
        if tag == "replace" and i2 - i1 <= max_span and j2 - j1 <= max_span:
            # Aligned tokens on each side; the start or end of both texts anchors as well as two tokens.
            left_n = ops[k - 1][2] - ops[k - 1][1] if k > 0 and ops[k - 1][0] == "equal" else 2 * (i1 == j1 == 0)
            right_n = (
                ops[k + 1][2] - ops[k + 1][1] if k + 1 < len(ops) and ops[k + 1][0] == "equal"
                else 2 * (i2 == len(cn) and j2 == len(sn))
            )
            a, b, spun = _span(copy, ct, i1, i2)
            _, _, original = _span(source, st, j1, j2)
            subs.append(Substitution(
                a, b, spun, original, " ".join(cn[i1:i2]), " ".join(sn[j1:j2]),
                cn[i1 - 1] if i1 and left_n else "", cn[i2] if i2 < len(cn) and right_n else "", min(2, left_n, right_n),
            ))
        elif i2 > i1:
            a, b, _ = _span(copy, ct, i1, i2)
            unaligned.append((a, b))
    return Alignment(subs, unaligned, aligned)


def unaligned_edits(copy: str, alignment: Alignment, restore: Callable[[str], Sequence[Edit]]) -> list[Edit]:
    """The restorer's edits of each unaligned part of ``copy`` on its own (the article evidence of the
    whole copy is diluted by the parts its source explains), offsets into ``copy``.
    ``restore(text) -> edits``: e.g. ``lambda t: restorer.restore(t).edits``."""
    out = []
    for a, b in alignment.unaligned:
        out += [dataclasses.replace(e, start=e.start + a, end=e.end + a) for e in restore(copy[a:b])]
    return out


def source_edits(alignment: Alignment, fallback: Sequence[Edit], threshold: float = 0.5) -> list[Edit]:
    """Edits restoring the copy from its source: every substitution becomes an edit of kind ``source``
    (confidence by its aligned context, :data:`CONFIDENCE`; kept when >= ``threshold``), and the
    restorer's ``fallback`` edits are kept where they fall wholly inside an unaligned part. Ordered by
    start, non-overlapping."""
    edits = []
    for s in alignment.substitutions:
        confidence = CONFIDENCE[2 - s.flank]
        if confidence >= threshold and s.spun != s.original:
            edits.append(Edit(s.start, s.end, s.spun, s.original, confidence, "source"))
    for e in fallback:
        if any(a <= e.start and e.end <= b for a, b in alignment.unaligned):
            edits.append(e)
    return sorted(edits, key=lambda e: e.start)


def copy_evidence(alignment: Alignment, count) -> float:
    """Evidence, in nats, that the first text given to :func:`align` is the spun one: summed over the
    substitutions, ``log(count(original) + 1) - log(count(spun) + 1)``. A spinner swaps a news writer's
    common word for an odder synonym, so the source's side is the more frequent one in clean text.
    ``count(tokens: tuple[str, ...]) -> int``: counts in clean text (the restorer's n-gram model)."""
    from math import log

    return sum(
        log(count(tuple(s.original_norm.split())) + 1) - log(count(tuple(s.spun_norm.split())) + 1)
        for s in alignment.substitutions
    )
