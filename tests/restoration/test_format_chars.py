"""Invisible format characters inside words (soft hyphens from `&shy;`, zero-width spaces and joiners,
word joiners) must not hide spun words from the restorer: a soft hyphen in "men\u00adtioned" used to cut
the edits of a paragraph from 5 to 1 and its spin score from 0.9996 to 0.09."""

from __future__ import annotations

import re

import pytest

from workers.restoration import default_restorer
from workers.restoration.edits import apply_edits
from workers.restoration.tokens import FORMAT_CHARS, tokenize

SPUN = (
    "The corporate mentioned 1000's of jobs would be lower this yr, officers mentioned. Dock staff returned "
    "to work on Monday after union members voted to accept a contract that raises wages by 14 p.c. over "
    "three years. Union chief Marisol Vega mentioned the deal protected jobs, and the governor mentioned "
    "on Friday it would cost tens of millions of dollars."
)


def sprinkle(text: str, marks: str) -> tuple[str, list[int]]:
    """``text`` with one of ``marks`` (in turn) after the third letter of every word of 5+ letters, and
    where each character of ``text`` went (index i -> new index; len(text) -> len(new))."""
    out, where, n = [], [], 0
    starts = {m.start() + 3 for m in re.finditer(r"[A-Za-z]{5,}", text)}
    for i, ch in enumerate(text):
        if i in starts:
            out.append(marks[n % len(marks)])
            n += 1
        where.append(len("".join(out)))
        out.append(ch)
    where.append(len("".join(out)))
    return "".join(out), where


@pytest.fixture(scope="module")
def restorer():
    return default_restorer()


@pytest.mark.parametrize("marks", ["\u00ad", "\u200b", "\u00ad\u200b\u200c\u200d\u2060\ufeff"])
def test_format_characters_inside_words_change_nothing_but_offsets(restorer, marks):
    marked, where = sprinkle(SPUN, marks)
    assert sum(map(marked.count, marks)) >= 20
    plain, got = restorer.restore(SPUN), restorer.restore(marked)
    assert len(plain.edits) >= 5
    # The same edits, at offsets shifted exactly by the inserted characters, restoring the same words.
    assert [(where[e.start], where[e.end], e.restored) for e in plain.edits] == [
        (e.start, e.end, e.restored) for e in got.edits
    ]
    for e in got.edits:
        assert marked[e.start : e.end] == e.original
    assert got.spin_score == pytest.approx(plain.spin_score, abs=0.01)
    # Words that were not edited keep their format characters; the edits reproduce the text.
    assert apply_edits(marked, got.edits) == got.text
    assert got.text.translate(dict.fromkeys(map(ord, FORMAT_CHARS))) == plain.text
    assert sum(map(got.text.count, marks)) >= 10


def test_format_characters_are_not_tokens_and_do_not_split_words():
    text = "\u200bThe men\u00adtioned 1000\u200b's \u2060, don\u00ad’t\ufeff"
    toks = tokenize(text)
    assert [t.norm for t in toks] == ["the", "mentioned", "1000's", ",", "don't"]
    assert [text[t.start : t.end] for t in toks] == [t.text for t in toks]
    assert toks[1].text == "men\u00adtioned"


def test_unspun_restore_keeps_entity_offsets_exact_through_format_characters():
    """Through the whole pipeline (`unspun restore`): the marked text gets the same edits and the same
    entities (spaCy sees the text without format characters), at offsets into the text as received."""
    import json

    from typer.testing import CliRunner

    from workers.cli import app

    marked, where = sprinkle(SPUN, "\u00ad\u200b")
    lines = "\n".join(json.dumps({"id": name, "text": text}) for name, text in (("plain", SPUN), ("marked", marked)))
    result = CliRunner().invoke(app, ["restore", "-"], input=lines)
    assert result.exit_code == 0, result.output
    plain, got = (json.loads(line) for line in result.stdout.splitlines())
    assert got["spin_score"] == pytest.approx(plain["spin_score"], abs=0.01)
    assert [(where[e["start"]], where[e["end"]], e["restored"]) for e in plain["edits"]] == [
        (e["start"], e["end"], e["restored"]) for e in got["edits"]
    ]
    drop = dict.fromkeys(map(ord, FORMAT_CHARS))
    assert len(plain["entities"]) >= 5
    assert [(m["label"], where[m["source_start"]], where[m["source_end"]]) for m in plain["entities"]] == [
        (m["label"], m["source_start"], m["source_end"]) for m in got["entities"]
    ]
    for m, p in zip(got["entities"], plain["entities"]):
        assert got["restored_text"][m["start"] : m["end"]] == m["text"]
        assert m["text"].translate(drop) == p["text"]
