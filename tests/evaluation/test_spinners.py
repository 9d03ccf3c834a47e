"""Evaluation spinners: exact spans, the thesaurus and WordNet spinners, and the PPS split."""

import random
from pathlib import Path

import pytest

from workers.evaluation import pps
from workers.evaluation.groups import MYTHES, mythes_groups, read_groups, read_mythes, write_groups
from workers.evaluation.spinners import group_file_spinner, thesaurus_spinner, wordnet_entries, wordnet_spinner, words_of
from workers.restoration.build.spinnable import spinnable
from workers.restoration.build.wordnet import WORDNET_DIR, read_wordnet, synonyms
from workers.restoration.emulate import spin

TEXT = (
    "The company said it would hire hundreds of new drivers this year. Officials made the annual report "
    "public on Monday, and the third row of the table was empty.\nMilitary experts said the options were "
    "possible. The Board said its Table of results was not final; the TABLE stays."
)


def unspin(spun, spans):
    out, pos = [], 0
    for s in spans:
        out += [spun[pos : s.start], s.original]
        pos = s.end
    return "".join(out) + spun[pos:]


def check_exact(spun, spans):
    assert spans
    for s in spans:
        assert spun[s.start : s.end] == s.substitute
    assert unspin(spun, spans) == TEXT


def test_group_file_spinner_spans_are_exact(tmp_path):
    path = write_groups([["table", "desk", "board game"], ["said", "mentioned"], ["officials", "officers"],
                         ["possible", "doable", "achievable"], ["military", "army"]], tmp_path / "groups.txt")
    sp = group_file_spinner(path)
    spun, spans = sp.spin(TEXT, random.Random(4))
    check_exact(spun, spans)
    assert {s.original.lower() for s in spans} <= {"table", "said", "officials", "possible", "military"}
    spun1, spans1 = spin(TEXT, rate=1.0, rng=random.Random(1), table=sp.table)  # every occurrence
    check_exact(spun1, spans1)
    assert [s.original for s in spans1].count("said") == 3 and "TABLE" in [s.original for s in spans1]
    assert any(s.substitute == "DESK" or s.substitute == "BOARD GAME" for s in spans1)


def test_group_file_lines_are_read_as_the_restorer_reads_them_and_items_as_written(tmp_path):
    fixture = Path(__file__).parents[1] / "restoration" / "data" / "dictionaries" / "groups.txt"
    groups = read_groups(fixture)
    assert groups[0] == ["table", "desk"]  # the first line, a comment behind a byte-order mark, is no group
    assert len(groups) == 11 and ["Table", "Desk"] in groups and ["lonely"] in groups  # as a plugin reads them
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(fixture.read_bytes().decode("utf-8-sig").encode("utf-16"))
    assert read_groups(utf16) == groups


@pytest.mark.skipif(not MYTHES.exists(), reason="Debian mythes-en-us not installed")
def test_thesaurus_spinner_rewrites_with_synonyms_only():
    sp = thesaurus_spinner(words_of([TEXT]))
    for seed in range(3):
        spun, spans = sp.spin(TEXT, random.Random(seed))
        check_exact(spun, spans)
        assert not any("(" in s.substitute for s in spans)  # "(generic term)" items are not synonyms
    subs = {x.text for x in sp.table.forward[("possible",)]}
    assert "conceivable" in subs and "potential" in subs
    assert ("was",) not in sp.table.forward  # function words stay


@pytest.mark.skipif(not (WORDNET_DIR / "data.noun").exists(), reason="Debian wordnet-base not installed")
def test_wordnet_spinner_uses_synset_lemmas_inflected():
    sp = wordnet_spinner(words_of([TEXT]))
    spun, spans = sp.spin(TEXT, random.Random(2))
    check_exact(spun, spans)
    assert "ordinal" in {x.text for x in sp.table.forward[("third",)]}
    assert "did" in {x.text for x in sp.table.forward[("made",)]}  # make -> do, in the past tense
    assert "functionaries" in {x.text for x in sp.table.forward[("officials",)]}


# Words both lexicons give synonyms for ("can" -> "tin", "will" -> "volition", "s" -> "second") that the
# spinnable rule refuses: function words, a single letter, and capitals (a name, not a lexicon head).
REFUSED = {"can", "will", "may", "be", "have", "in", "s", "Table", "U.S."}


@pytest.mark.skipif(not (WORDNET_DIR / "data.noun").exists(), reason="Debian wordnet-base not installed")
def test_wordnet_spinner_refuses_the_words_the_rule_refuses():
    wn = read_wordnet()
    assert all(synonyms(wn, w.lower()) for w in REFUSED - {"U.S."})  # so only the rule keeps them out
    originals = {e.original for e in wordnet_entries(words_of([TEXT]) | REFUSED)}
    assert {"third", "make", "official"} <= originals
    assert all(spinnable(o) for o in originals) and not originals & REFUSED


@pytest.mark.skipif(not MYTHES.exists(), reason="Debian mythes-en-us not installed")
def test_thesaurus_spinners_refuse_the_words_the_rule_refuses():
    from workers.restoration.ngram import default_model

    lexicon = {w for w in REFUSED if w.islower()} | {"10", "well-known"}
    assert {h for h, _, _ in read_mythes(heads=lexicon)} == lexicon  # the thesaurus offers synonyms for all
    sp = thesaurus_spinner(words_of([TEXT]) | lexicon)
    originals = {e.original for e in sp.table.entries}
    assert {"possible", "third", "10", "well-known"} <= originals  # numbers and hyphenated heads are spun
    assert all(spinnable(o, letters_only=False) for o in originals) and not originals & REFUSED
    heads = [g[0] for g in mythes_groups(default_model(), 300)]  # the group file of the "dictionary loaded" row
    assert len(heads) == 300 and all(spinnable(h) for h in heads)


def test_pps_split_is_disjoint_deterministic_and_keeps_an_expected_phrase_on_one_side():
    pairs = [(f"tortured {i}", f"expected {i % 40}") for i in range(200)] + [("surface region", "Surface  Area")]
    a, b = pps.split(pairs), pps.split(list(pairs))
    assert a == b and len(a["tune"]) + len(a["report"]) == len(pairs)
    tune_exp = {pps.half_of(e) for _, e in a["tune"]}
    assert tune_exp == {"tune"} and {pps.half_of(e) for _, e in a["report"]} == {"report"}
    assert not {" ".join(e.lower().split()) for _, e in a["tune"]} & {" ".join(e.lower().split()) for _, e in a["report"]}
    assert 60 <= len(a["tune"]) <= 140  # a hash, not a constant side
    assert pps.half_of("surface area") == pps.half_of("Surface  Area")


def test_pps_documents_have_exact_spans():
    pairs = [("surface region", "surface area"), ("counterfeit consciousness", "artificial intelligence")] * 6
    docs = pps.documents(pairs, per_doc=5)
    assert len(docs) == 3
    for _id, clean, spun, spans in docs:
        assert len(spans) == len(clean.splitlines())
        out, pos = [], 0
        for s in spans:
            assert spun[s.start : s.end] == s.substitute
            out += [spun[pos : s.start], s.original]
            pos = s.end
        assert "".join(out) + spun[pos:] == clean


def test_bundled_set_is_from_the_reported_split_only():
    from workers.evaluation import corpora
    from workers.restoration.build.ngram import is_held_out

    pairs = corpora.bundled_pps()
    assert len(pairs) == 300 and all(pps.half_of(expected) == "report" for _, expected in pairs)
    docs = corpora.bundled_senate()
    assert len(docs) == 30 and all(is_held_out(name) for name, _ in docs)  # never in the n-gram model


def test_tuning_and_reported_documents_are_disjoint(monkeypatch, tmp_path):
    from workers.evaluation import corpora, restoration

    senate = [(f"raw/S/{k}.txt", f"release {k} " * 80) for k in range(20)]
    monkeypatch.setattr(corpora, "senate_held_out", lambda shared, limit=None: iter(senate[:limit]))
    monkeypatch.setattr(corpora, "onestop_advanced", lambda shared: [(f"ose{k}", "text") for k in range(10)])
    monkeypatch.setattr(corpora, "gum_wikinews", lambda shared: [("gum0", "text")])
    tune = {d.id for d in restoration.load_docs(tmp_path, quick=True, split="tune")}
    report = {d.id for d in restoration.load_docs(tmp_path, quick=True, split="report")}
    assert tune and report and not tune & report
    assert "gum0" in report and "raw/S/1.txt" in report and "raw/S/0.txt" in tune
    with pytest.raises(ValueError):
        restoration.load_docs(tmp_path, quick=True, split="fit")
