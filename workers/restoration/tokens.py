"""Tokenisation shared by the restorer, the n-gram model and the spinner table.

A token is a run of word characters (letters, digits, underscore) with internal apostrophes
("don't", "1000's"), or a single non-space punctuation character. Spaces are not tokens.
Offsets are Python string indices (code points) into the text, end exclusive.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Word: \w runs joined by straight or curly apostrophes; otherwise one non-space character.
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)


class Token(NamedTuple):
    """One token: ``text`` as it appears, ``norm`` lower-cased with curly apostrophes straightened,
    and its character span ``[start, end)`` in the source text."""

    text: str
    norm: str
    start: int
    end: int


def normalise(word: str) -> str:
    """Lower-case form used for matching and counting ("Don’t" -> "don't")."""
    return word.lower().replace("’", "'")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens with character offsets; never raises for any ``str``."""
    lowered = text.lower().replace("’", "'")
    if len(lowered) != len(text):  # a few characters lower-case to two ("İ"): normalise one by one
        return [Token(m.group(), normalise(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    return [Token(m.group(), lowered[m.start() : m.end()], m.start(), m.end()) for m in _TOKEN.finditer(text)]


def norms(text: str) -> list[str]:
    """Just the normalised token strings of ``text`` (for counting and table keys)."""
    return [normalise(m) for m in _TOKEN.findall(text)]
