"""A synonym-group spinner for tests and benchmarks of linking and learning.

Reads a group dictionary (one group per line, ``|``-separated, the head word first, the others what
the spinner writes in its place; ``#`` comments) and replaces whole words, context-blind, as the
WordPress auto-spinners do. The dictionaries used with it are the project's own or built from a
thesaurus the restorer's table is not built from; never third-party spinner data.
"""

from __future__ import annotations

import random
import re
from typing import Iterable

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")


def load_groups(lines: Iterable[str]) -> dict[str, list[str]]:
    """{head word (lower case): [substitutes]} from group lines; comment and one-item lines are skipped."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        items = [x.strip() for x in line.strip().split("|") if x.strip()]
        if line.lstrip().startswith("#") or len(items) < 2:
            continue
        groups.setdefault(items[0].lower(), []).extend(x for x in items[1:] if x.lower() != items[0].lower())
    return groups


def spin(text: str, groups: dict[str, list[str]], rate: float, rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """``text`` with each word that heads a group replaced, with probability ``rate``, by one of its
    substitutes (first letter's case copied). Returns the spun text and the (original, substitute) pairs."""
    pairs: list[tuple[str, str]] = []

    def swap(m: re.Match) -> str:
        word = m.group()
        subs = groups.get(word.lower())
        if not subs or rng.random() >= rate:
            return word
        sub = rng.choice(subs)
        if word[:1].isupper():
            sub = sub[:1].upper() + sub[1:]
        pairs.append((word, sub))
        return sub

    return _WORD.sub(swap, text), pairs
