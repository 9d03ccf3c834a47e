"""Scoring of restorations against known spans."""

from workers.evaluation.scoring import judge, minimal
from workers.restoration.edits import Edit
from workers.restoration.emulate import SpunSpan

SPUN = "new surface region here and the mentioned x"
SPANS = [SpunSpan(4, 18, "surface area", "surface region", "phrase"), SpunSpan(32, 41, "said", "mentioned", "word")]


def test_a_wider_or_narrower_edit_that_restores_the_span_is_right():
    j = judge([Edit(12, 18, "region", "area", 0.9), Edit(28, 41, "the mentioned", "the said", 0.9)], SPANS)
    assert j.ok == [True, True] and j.exact == 2 and j.lost == 2 and j.restored == 2
    m = minimal(Edit(28, 41, "the mentioned", "the said", 0.9))
    assert (m.start, m.end, m.original, m.restored) == (32, 41, "mentioned", "said")


def test_wrong_words_and_edits_outside_spans_are_wrong():
    j = judge([Edit(0, 3, "new", "old", 0.9), Edit(4, 18, "surface region", "area", 0.9),
               Edit(32, 41, "mentioned", "stated", 0.9)], SPANS)
    assert j.ok == [False, False, False] and j.exact == 0 and j.restored == 0 and j.touched == 2


def test_minimal_keeps_a_word_on_each_side():
    e = Edit(10, 26, "Security measure", "Security", 0.9)
    assert minimal(e) == e
    m = minimal(Edit(0, 21, "at the end of the day", "at the close of the day", 0.9))
    assert (m.start, m.end, m.original, m.restored) == (7, 10, "end", "close")


def test_removing_a_word_the_spinner_added_is_right():
    spans = [SpunSpan(9, 25, "Security", "Security measure", "word")]
    j = judge([Edit(9, 25, "Security measure", "Security", 0.9)], spans)
    assert j.ok == [True] and j.lost == 1 and j.restored == 1 and j.exact == 1


def test_a_row_without_edits_prints_no_precision_rather_than_nan(capsys):
    from workers.evaluation.restoration import print_results

    row = {"label": "quiet spinner", "edit_precision": float("nan"), "edits": 0, "word_recall": 0.0,
           "exact_restoration": 0.0, "knowledge": "none", "false_edits_per_1k_words": 0.0, "words_per_s": 1234.5,
           "spun_words": 300, "documents": 30}
    print_results({"data": "bundled", "rows": {"quiet": row}, "skipped": {}})
    [line] = [l for l in capsys.readouterr().out.splitlines() if "quiet spinner" in l]
    assert "n/a (0 edits)" in line and "nan" not in line and "1,234" in line


def test_knowledge_counts_what_any_family_of_the_restorer_holds():
    # the ceiling of recall: a substitution only the second family knows is known to the restorer
    from pathlib import Path

    from workers.evaluation.scoring import Doc, evaluate, summarise
    from workers.restoration.families import Family
    from workers.restoration.restorer import Restorer
    from workers.restoration.table import load_table

    data = Path(__file__).parents[1] / "restoration" / "data"
    clean = "The company said it would open a new plant."
    spun = "The enterprise said it would open a new plant."
    doc = Doc("d1", "senate", clean, spun, [SpunSpan(4, 14, "company", "enterprise", "word")])
    news = Family("news", load_table(data / "mini_table", use_cache=False))
    other = Family("other", load_table(data / "other_family", use_cache=False))
    assert summarise(evaluate(Restorer(families=[news]), [doc]))["knowledge"] == 0.0
    assert summarise(evaluate(Restorer(families=[news, other]), [doc]))["knowledge"] == 1.0
