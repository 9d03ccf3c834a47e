"""The ``Mention`` record: one named-entity span in an article, in both the restored and the received text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mention:
    """One entity mention.

    All offsets are Python string indices (Unicode code points, not bytes or UTF-16 units), end exclusive.

    ``text``: the mention as it appears in the restored text, ``restored_text[start:end]``;
    ``label``: OntoNotes label as predicted by spaCy (PERSON, ORG, GPE, LOC, NORP, DATE, ...);
    ``start``/``end``: offsets into the restored text;
    ``source_start``/``source_end``: offsets into the text as received (equal to ``start``/``end`` until
    :func:`workers.entities.locate` maps them through the restorer's edits);
    ``canonical``: the entity's normalised name within its article (see :mod:`workers.entities.canonical`),
    or ``None`` when not resolved yet.
    """

    text: str
    label: str
    start: int
    end: int
    source_start: int
    source_end: int
    canonical: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict in the shape of ``$defs/mention`` of ``schemas/enriched.v1.json``.

        ``canonical`` is left out when it is ``None`` (the schema types it as a string, not required).
        """
        d = {
            "text": self.text,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "source_start": self.source_start,
            "source_end": self.source_end,
        }
        if self.canonical is not None:
            d["canonical"] = self.canonical
        return d
