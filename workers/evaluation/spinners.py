"""Context-blind spinners for the evaluation, each from a dictionary the restorer may or may not hold.

Every spinner is a ``SpinnerTable`` read forwards by ``workers.restoration.emulate.spin`` (longest
match, a per-document rate, substitutes drawn at random, capitalisation copied), so each spun text comes
with exact spans:

- ``table_spinner``: the shipped news table (the restorer's own dictionary: "known dictionary");
- ``thesaurus_spinner``: head word -> synonyms of all its meanings in the LibreOffice thesaurus
  (``groups.read_mythes``), inflected by the meaning's part of speech; function words and single
  letters are left alone (``spinnable``; the thesaurus lists "be" -> "make up"), while its numbers,
  hyphenated and multiword heads are spun;
- ``wordnet_spinner``: a word -> another lemma of one of its WordNet 3.0 synsets, the splog spinners'
  method (``workers.restoration.build.wordnet``);
- ``group_file_spinner``: a ``|``-separated group file as a plugin spins it (literal, no inflection).

Tables of the large dictionaries are restricted to the words of the documents to spin (``words``),
which gives the same spins as the whole dictionary, and compiled through ``table.load_table`` so that a
second run loads them from the table cache.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from workers.evaluation.groups import MYTHES, group_entries, read_groups, read_mythes
from workers.restoration.build.spinnable import spinnable
from workers.restoration.emulate import SpunSpan, spin
from workers.restoration.table import Entry, SpinnerTable, build_table, load_table
from workers.restoration.tokens import norms

TABLE_RATES = (0.4, 0.9)  # per-document probability that an occurrence of a dictionary original is rewritten
# Thesaurus and WordNet hold nearly every content word: at the table's rates half of all words would change.
BROAD_RATES = (0.2, 0.5)


@dataclass
class Spinner:
    """A spinner: ``name``, its ``table`` (forward index used) and the range of per-document ``rates``."""

    name: str
    table: SpinnerTable
    rates: tuple[float, float] = TABLE_RATES

    def spin(self, text: str, rng: random.Random) -> tuple[str, list[SpunSpan]]:
        """(spun text, spans) of ``text`` at a rate drawn from ``rates`` with ``rng``."""
        return spin(text, rate=rng.uniform(*self.rates), rng=rng, table=self.table)


def table_spinner(table: SpinnerTable, name: str = "known dictionary") -> Spinner:
    """The spinner that uses ``table`` itself (the restorer's own dictionary)."""
    return Spinner(name, table, TABLE_RATES)


def words_of(texts: Iterable[str]) -> set[str]:
    """Normalised tokens of ``texts`` and their lemmas (lemminflect), for restricting a dictionary."""
    from lemminflect import getAllLemmas

    out: set[str] = set()
    for t in texts:
        out.update(norms(t))
    for w in list(out):
        if w.isalpha():
            for lemmas in getAllLemmas(w).values():
                out.update(x.lower() for x in lemmas)
    return out


def compile_entries(entries: list[Entry], name: str) -> SpinnerTable:
    """Index ``entries`` as a table (format v1 written to a temporary file and loaded through the
    table cache, so a repeated run costs no inflection)."""
    with tempfile.TemporaryDirectory() as d:
        lines = [f"{e.original}\t{'|'.join(e.substitutes)}\t{e.pos}\n" for e in entries]
        (Path(d) / f"word_{name}.tsv").write_text("".join(lines), encoding="utf-8")
        return load_table(d)


def thesaurus_spinner(words: set[str] | None = None, path: Path | str = MYTHES) -> Spinner:
    """Thesaurus-group spinner (heads restricted to ``words`` when given). Raises
    ``FileNotFoundError`` without Debian's ``mythes-en-us``."""
    heads = None if words is None else {w for w in words if " " not in w}
    entries = [
        e for head, pos, syns in read_mythes(path, heads) if spinnable(head, letters_only=False)
        for e in group_entries([[head, *syns]], pos)
    ]
    return Spinner("thesaurus groups", compile_entries(entries, "thesaurus"), BROAD_RATES)


def wordnet_entries(words: Iterable[str], wordnet_dir: Path | str | None = None) -> list[Entry]:
    """Entries word -> other lemmas of its synsets, one per part of speech (``wordnet.synonyms``),
    for the ``words`` a spinner may replace (``spinnable``, as the shipped WordNet family)."""
    from workers.restoration.build.wordnet import WORDNET_DIR, read_wordnet, synonyms

    wn = read_wordnet(wordnet_dir or WORDNET_DIR)
    out = []
    for w in sorted(words):
        if spinnable(w):
            for pos, subs in synonyms(wn, w).items():
                out += group_entries([[w, *subs]], pos)
    return out


def wordnet_spinner(words: set[str], wordnet_dir: Path | str | None = None) -> Spinner:
    """WordNet-synset spinner over ``words``. Raises ``FileNotFoundError`` without Debian's
    ``wordnet-base``."""
    return Spinner("wordnet synsets", compile_entries(wordnet_entries(words, wordnet_dir), "wordnet"), BROAD_RATES)


def group_file_spinner(path: Path | str, name: str = "group file") -> Spinner:
    """A plugin spinning with the group file at ``path``: every head replaced literally."""
    return Spinner(name, build_table(group_entries(read_groups(path), source=Path(path).name)), BROAD_RATES)
