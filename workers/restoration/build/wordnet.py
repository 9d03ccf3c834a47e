"""Reader of the WordNet 3.0 database files (``data.noun``, ``data.verb``, ``data.adj``, ``data.adv``).

Source: WordNet 3.0, Princeton University (Debian package ``wordnet-base``, files in
``/usr/share/wordnet``; licence in ``data/families/wordnet/LICENSE``). Format of a data line
(wndb(5WN)): ``offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt [ptr ...] | gloss``,
``w_cnt`` in hexadecimal, each pointer ``symbol offset pos source/target``; an index line is
``lemma pos synset_cnt p_cnt [ptr_symbol ...] sense_cnt tagsense_cnt synset_offset ...``, its offsets
in sense order (most frequent sense first). Lines that start with a space are the licence header.

Used by the WordNet family builder (``wordnet_family.py``) and by the WordNet-synset spinner of the
evaluation (``workers.evaluation.spinners``): a word may be replaced by another lemma of one of its
synsets, and an adjective of a satellite synset also by the lemmas of the cluster's head ("third" ->
"ordinal").
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

WORDNET_DIR = Path("/usr/share/wordnet")
POS_NAMES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}  # file key -> file suffix
# ss_type -> part of speech of table format v1 (adverbs do not inflect)
UPOS = {"n": "NOUN", "v": "VERB", "a": "ADJ", "s": "ADJ", "r": "X"}
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # syntactic marker of adjectives: "junior(a)"


class Synset(NamedTuple):
    """One synset: ``offset`` (byte offset in its file), ``pos`` (ss_type: n, v, a, s, r),
    ``lemmas`` (spaces for underscores, adjective markers removed, WordNet's case) and ``heads``
    (offsets of the head synsets a satellite adjective points to with ``&``; empty otherwise)."""

    offset: int
    pos: str
    lemmas: tuple[str, ...]
    heads: tuple[int, ...]


class WordNet(NamedTuple):
    """The synsets of the four data files: ``synsets`` {(file key n/v/a/r, offset): Synset} and
    ``by_lemma`` {lower-case lemma: [(file key, offset), ...]}, nouns, verbs, adjectives, adverbs, each
    in sense order (``index.*`` files)."""

    synsets: dict[tuple[str, int], Synset]
    by_lemma: dict[str, list[tuple[str, int]]]


def parse_data_line(line: str) -> Synset | None:
    """One synset from a data-file line; ``None`` for header and blank lines. Raises ``ValueError``
    for a line that is not in wndb format."""
    if not line.strip() or line.startswith(" "):
        return None
    f = line.split(" ")
    offset, ss_type, w_cnt = int(f[0]), f[2], int(f[3], 16)
    lemmas = tuple(_ADJ_MARKER.sub("", f[4 + 2 * k]).replace("_", " ") for k in range(w_cnt))
    k = 4 + 2 * w_cnt
    p_cnt = int(f[k])
    heads = []
    for p in range(p_cnt):
        sym, off, pos = f[k + 1 + 4 * p : k + 4 + 4 * p]
        if sym == "&" and ss_type == "s" and pos == "a":
            heads.append(int(off))
    return Synset(offset, ss_type, lemmas, tuple(heads))


@lru_cache(maxsize=2)
def read_wordnet(wordnet_dir: Path | str = WORDNET_DIR) -> WordNet:
    """Read the data and index files of ``wordnet_dir``; about 2 s. Raises ``FileNotFoundError`` when
    WordNet is not installed (``apt-get install wordnet-base``)."""
    d = Path(wordnet_dir)
    synsets: dict[tuple[str, int], Synset] = {}
    by_lemma: dict[str, list[tuple[str, int]]] = {}
    for key, suffix in POS_NAMES.items():
        with open(d / f"data.{suffix}", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                s = parse_data_line(line)
                if s is not None:
                    synsets[(key, s.offset)] = s
        with open(d / f"index.{suffix}", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip() or line.startswith(" "):
                    continue
                f = line.split()
                n_synsets, n_ptrs = int(f[2]), int(f[3])
                offsets = f[6 + n_ptrs : 6 + n_ptrs + n_synsets]
                by_lemma.setdefault(f[0].replace("_", " "), []).extend((key, int(o)) for o in offsets)
    return WordNet(synsets, by_lemma)


def synonyms(wn: WordNet, word: str, max_words: int = 3) -> dict[str, list[str]]:
    """Other lemmas of the synsets of ``word`` (case-insensitive), grouped by table part of speech
    ({"NOUN": [...], "VERB": [...], ...}), in WordNet's sense order without repeats; satellite
    adjectives add their head's lemmas. Lemmas longer than ``max_words`` words are left out, and so
    are synsets where the word is a name (written capitalised there: "Aaron", "Bush")."""
    out: dict[str, dict[str, None]] = {}
    low = word.lower()
    for key in wn.by_lemma.get(low, ()):
        s = wn.synsets[key]
        if low not in s.lemmas:
            continue
        lemmas = list(s.lemmas)
        for h in s.heads:
            head = wn.synsets.get(("a", h))
            if head is not None:
                lemmas.extend(head.lemmas)
        bucket = out.setdefault(UPOS[s.pos], {})
        for lemma in lemmas:
            if lemma.lower() != low and len(lemma.split()) <= max_words:
                bucket.setdefault(lemma, None)
    return {pos: list(v) for pos, v in out.items() if v}
