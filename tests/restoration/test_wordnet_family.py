"""The WordNet-synset family's table: shipped file, its licence, and the builder that makes it."""

from pathlib import Path

import pytest

from workers.restoration.build import wordnet_family
from workers.restoration.build.spinnable import spinnable
from workers.restoration.build.wordnet import WORDNET_DIR, parse_data_line, read_wordnet, synonyms
from workers.restoration.table import kind_of, parse_lines

FAMILY = Path(wordnet_family.OUT)
needs_wordnet = pytest.mark.skipif(not (WORDNET_DIR / "data.noun").exists(), reason="Debian wordnet-base not installed")


def test_shipped_family_parses_as_table_v1_with_expected_pairs():
    entries, problems = parse_lines(FAMILY.read_text(encoding="utf-8").splitlines(), kind_of(FAMILY), FAMILY.name)
    assert problems == []
    assert len(entries) > 5000
    by = {(e.original, e.pos): set(e.substitutes) for e in entries}
    assert {"3rd", "ordinal"} <= by[("third", "ADJ")]  # a satellite adjective's cluster head
    assert "state" in by[("say", "VERB")]
    assert {"do", "create"} <= by[("make", "VERB")]
    assert "functionary" in by[("official", "NOUN")]
    assert "quarrel" in by[("row", "NOUN")]
    assert all(spinnable(e.original) for e in entries)
    assert all(e.original == e.original.lower() and "_" not in "".join(e.substitutes) for e in entries)
    assert "Princeton" in (FAMILY.parent / "LICENSE").read_text(encoding="utf-8")


def test_data_line_parser_reads_lemmas_markers_and_satellite_heads():
    s = parse_data_line("02202308 00 s 03 third 0 3rd 0 junior(a) 0 001 & 02200036 a 0000 | coming next")
    assert s.pos == "s" and s.lemmas == ("third", "3rd", "junior") and s.heads == (2200036,)
    assert parse_data_line("  1 This software and database is being provided") is None


@needs_wordnet
def test_builder_reproduces_the_shipped_family(model):
    wn = read_wordnet()
    assert "Hank Aaron" not in synonyms(wn, "aaron").get("NOUN", [])  # name synsets are not synonyms
    lines = wordnet_family.family_lines(wn, model)
    shipped = [x for x in FAMILY.read_text(encoding="utf-8").splitlines() if not x.startswith("#")]
    assert lines == shipped
