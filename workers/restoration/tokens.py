"""Tokenisation shared by the restorer, the n-gram model and the spinner table.

A token is a run of word characters (letters, digits, underscore) with internal apostrophes
("don't", "1000's"), or a single non-space punctuation character. Spaces are not tokens.
Invisible format characters (see ``FORMAT_CHARS``) inside a word do not split it: "men\u00adtioned"
(with a soft hyphen) is one token whose ``norm`` is "mentioned"; outside words they are skipped like
spaces. Offsets are Python string indices (code points) into the text, end exclusive.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

#: Invisible format characters that text copied from the web carries inside words: soft hyphen
#: (U+00AD, HTML ``&shy;``), zero-width space, non-joiner and joiner (U+200B-U+200D), word joiner
#: (U+2060) and a byte-order mark inside the text (U+FEFF). Matching and scoring ignore them.
FORMAT_CHARS = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_F = f"[{FORMAT_CHARS}]"
# Word: \w runs joined by straight or curly apostrophes or format characters; otherwise one
# character that is neither space, word nor format character.
_TOKEN = re.compile(rf"\w+(?:(?:{_F}*['’]{_F}*|{_F}+)\w+)*|[^\w\s{FORMAT_CHARS}]", re.UNICODE)
_HAS_FORMAT = re.compile(_F)
_DROP_FORMAT = dict.fromkeys(map(ord, FORMAT_CHARS))


class Token(NamedTuple):
    """One token: ``text`` as it appears (format characters included), ``norm`` lower-cased with
    curly apostrophes straightened and format characters dropped, and its character span
    ``[start, end)`` in the source text."""

    text: str
    norm: str
    start: int
    end: int


def normalise(word: str) -> str:
    """Lower-case form used for matching and counting ("Don’t" -> "don't", "Men\u00adtioned" -> "mentioned")."""
    return word.lower().replace("’", "'").translate(_DROP_FORMAT)


class Tokens(NamedTuple):
    """An article's tokens as parallel lists (what ``Token`` holds, one list per field): building a
    ``Token`` per word costs as much as finding the words."""

    text: list[str]
    norm: list[str]
    start: list[int]
    end: list[int]


def token_lists(text: str) -> Tokens:
    """The tokens of ``text`` as parallel lists (see ``tokenize``); never raises for any ``str``."""
    spans = [m.span() for m in _TOKEN.finditer(text)]
    words = [text[a:b] for a, b in spans]
    lowered = text.lower().replace("’", "'")
    if len(lowered) != len(text):  # a few characters lower-case to two ("İ"): normalise one by one
        normed = [normalise(w) for w in words]
    elif _HAS_FORMAT.search(text):
        normed = [lowered[a:b].translate(_DROP_FORMAT) for a, b in spans]
    else:
        normed = [lowered[a:b] for a, b in spans]
    return Tokens(words, normed, [a for a, _ in spans], [b for _, b in spans])


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens with character offsets; never raises for any ``str``."""
    return list(map(Token._make, zip(*token_lists(text))))


def norms(text: str) -> list[str]:
    """Just the normalised token strings of ``text`` (for counting and table keys)."""
    return [normalise(m) for m in _TOKEN.findall(text)]


_BRIT = [
    (r"isation", "ization"), (r"ise(d|s)?$", r"ize\1"), (r"ising$", "izing"), (r"our", "or"),
    (r"tre$", "ter"), (r"tres$", "ters"), (r"ogue$", "og"), (r"ence$", "ense"), (r"lled$", "led"),
    (r"lling$", "ling"), (r"mme$", "m"), (r"ae", "e"), (r"oe", "e"), (r"yse$", "yze"),
]


_CONTRACTIONS = [
    (r"\bwon't\b", "will not"), (r"\bcan't\b", "cannot"), (r"n't\b", " not"), (r"'re\b", " are"),
    (r"'m\b", " am"), (r"'ll\b", " will"), (r"'ve\b", " have"), (r"'d\b", " would"), (r"'s\b", " is"),
    (r"\bcan not\b", "cannot"),
]


@lru_cache(maxsize=200_000)
def spelling_key(s: str) -> str:
    """A key equal for spellings of one word or phrase: lower case, contractions expanded, letters and
    digits only, British forms mapped to American ones."""
    s = s.lower().replace("\u2019", "'")
    for pat, rep in _CONTRACTIONS:
        s = re.sub(pat, rep, s)
    words = []
    for w in re.findall(r"[a-z0-9]+", s):
        for pat, rep in _BRIT:
            w = re.sub(pat, rep, w)
        words.append(w)
    return "".join(words)
