"""Edits and the offset arithmetic between a received text and its restored form.

An edit replaces ``text[start:end]`` (the spun span, ``original``) with ``restored``. Edits of one
text are ordered by ``start`` and do not overlap, so applying them left to right yields the
restored text, and any offset in the restored text maps back to one in the received text.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal, Sequence

EditKind = Literal["word", "phrase", "grammar", "name", "number", "spintax", "thesaurus", "source", "learned"]


@dataclass(frozen=True, slots=True)
class Edit:
    """One replacement in the received text.

    ``start``/``end``: character offsets into the received text (end exclusive);
    ``original``: the received (spun) span, equal to ``text[start:end]``;
    ``restored``: what replaces it; ``confidence``: probability in [0, 1] that the edit is right;
    ``kind``: which part of the spinner table (or fallback) proposed it; ``source`` when taken from the
    article this one is a spun copy of, ``learned`` from the substitutions learned from such pairs.
    """

    start: int
    end: int
    original: str
    restored: str
    confidence: float
    kind: EditKind = "word"

    def to_dict(self) -> dict:
        """JSON-ready dict with the fields of the enriched event's ``edits`` items."""
        return {
            "start": self.start, "end": self.end, "original": self.original, "restored": self.restored,
            "confidence": round(self.confidence, 4), "kind": self.kind,
        }


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """Return ``text`` with ``edits`` applied.

    Raises ``ValueError`` if the edits are unordered, overlap, fall outside ``text`` or their
    ``original`` differs from the span they name.
    """
    out: list[str] = []
    pos = 0
    for e in edits:
        if e.start < pos or e.end < e.start or e.end > len(text):
            raise ValueError(f"edit {e.start}-{e.end} is out of order or outside the text")
        if text[e.start : e.end] != e.original:
            raise ValueError(f"edit {e.start}-{e.end}: original {e.original!r} != text {text[e.start:e.end]!r}")
        out.append(text[pos : e.start])
        out.append(e.restored)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


class OffsetMap:
    """Maps character offsets of the restored text back to the received text.

    Built from the edits in O(n); ``to_source`` is O(log n). Inside an unchanged stretch the map is
    exact; an offset inside a replaced span maps to the start (for span starts) or end (for span
    ends) of the spun span, so a mention that covers part of an edit maps to the whole spun span.
    """

    def __init__(self, edits: Sequence[Edit]):
        self._restored_starts: list[int] = []
        self._restored_ends: list[int] = []
        self._edits = list(edits)
        shift = 0
        for e in self._edits:
            rs = e.start + shift
            self._restored_starts.append(rs)
            self._restored_ends.append(rs + len(e.restored))
            shift += len(e.restored) - (e.end - e.start)

    def to_source(self, pos: int, *, is_end: bool = False) -> int:
        """Offset in the received text for restored-text offset ``pos`` (a span start unless ``is_end``)."""
        i = bisect_right(self._restored_starts, pos if not is_end else pos - 1) - 1
        if i < 0:
            return pos
        e, re_ = self._edits[i], self._restored_ends[i]
        if pos < re_ or (is_end and pos == re_):
            return e.end if is_end else e.start
        return e.end + (pos - re_)
