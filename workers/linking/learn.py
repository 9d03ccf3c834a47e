"""Substitutions learned from aligned source/copy pairs.

Every aligned substitution of a linked copy is an observation "the spinner wrote ``spun`` where the
source had ``original``". One observation can be a coincidence (an editor's change, a misalignment);
a pair seen in ``min_articles`` distinct articles is taken as part of the spinner's dictionary and
joins the restorer's ``learned`` family. Counting is by distinct article id, so an observation
delivered twice (at-least-once streams) counts once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, NamedTuple

from workers.linking.align import Substitution
from workers.restoration.table import Entry

LEARNED_FAMILY = "learned"
_WORDS = re.compile(r"[a-z]+(?:['-][a-z]+)*(?: [a-z]+(?:['-][a-z]+)*){0,2}")


class Observation(NamedTuple):
    """One aligned substitution seen in article ``article``: normalised ``spun`` and ``original``
    (space-joined tokens) and the aligned words around it, ``left`` and ``right``."""

    spun: str
    original: str
    left: str
    right: str
    article: str

    @property
    def key(self) -> str:
        """Kafka key of the observation: pair and article, so compaction keeps one per article."""
        return f"{self.spun}\t{self.original}\t{self.article}"


def observations(subs: Iterable[Substitution], article: str) -> list[Observation]:
    """The substitutions worth counting: words only (1 to 3 per side, letters, ``'`` and ``-``), with an
    aligned word on both sides; names, numbers and punctuation changes are left out."""
    return [
        Observation(s.spun_norm, s.original_norm, s.left, s.right, article)
        for s in subs
        if s.flank >= 1 and _WORDS.fullmatch(s.spun_norm) and _WORDS.fullmatch(s.original_norm)
    ]


class PairCounter:
    """Distinct articles per (spun, original) pair, up to ``min_articles`` each (memory: at most that
    many ids per pair). ``learned`` lists the pairs seen in at least ``min_articles`` articles."""

    def __init__(self, min_articles: int) -> None:
        self.min_articles = max(1, min_articles)
        self._articles: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.learned: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._articles)

    def add(self, spun: str, original: str, article: str) -> bool:
        """Count one observation; True when this pair has just reached ``min_articles``."""
        pair = (spun, original)
        if pair in self.learned:
            self.learned[pair] = max(self.learned[pair], self.min_articles)
            return False
        seen = self._articles[pair]
        seen.add(article)
        if len(seen) >= self.min_articles:
            self.learned[pair] = len(seen)
            del self._articles[pair]
            return True
        return False

    def entries(self) -> list[Entry]:
        """The learned pairs as spinner-table entries (one per original, literal ``pos=X``, kind
        ``learned``), sorted by original."""
        by_original: dict[str, list[str]] = defaultdict(list)
        for spun, original in sorted(self.learned):
            by_original[original].append(spun)
        return [
            Entry(o, tuple(s), "X", LEARNED_FAMILY, f"learned:{i}") for i, (o, s) in enumerate(sorted(by_original.items()), 1)
        ]


def table_lines(entries: Iterable[Entry]) -> list[str]:
    """Entries in spinner-table format v1 (``original<TAB>sub|sub<TAB>pos``), one line each."""
    return [f"{e.original}\t{'|'.join(e.substitutes)}\t{e.pos}" for e in entries]
