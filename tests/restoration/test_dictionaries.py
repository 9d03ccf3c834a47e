"""Spinner dictionaries in their own formats: detection, tolerated oddities, errors, compile cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.restoration import dictionaries
from workers.restoration.dictionaries import DictionaryError, compile_dictionary, dictionary_files, read_dictionary

DATA = Path(__file__).parent / "data" / "dictionaries"


def _pairs(d) -> set[tuple[str, tuple[str, ...]]]:
    return {(e.original, e.substitutes) for e in d.entries}


def test_a_group_file_with_the_usual_oddities():
    d = read_dictionary(DATA / "groups.txt")
    assert (d.format, d.encoding) == ("groups", "utf-8-sig")
    heads = [e.original for e in d.entries]
    # "Table|Desk" repeats line 4 up to case; "desk|table" reverses it and is kept.
    assert heads == ["table", "possible", "military", "officials", "desk", "inquiry", "Monday", "Tuesday", "advise"]
    assert ("military", ("army", "armed forces")) in _pairs(d)
    assert ("inquiry", ("zorbulation",)) in _pairs(d)  # stray spintax braces
    assert "groups.txt:9: duplicate of line 4" in d.problems
    assert "groups.txt:15: not a groups line: 'lonely'" in d.problems
    assert (d.lines, d.groups, d.skipped, d.malformed) == (15, 10, 2, 1)
    pos = {e.original: e.pos for e in d.entries}
    assert (pos["table"], pos["possible"], pos["officials"], pos["advise"]) == ("NOUN", "ADJ", "X", "VERB")
    assert {e.kind for e in d.entries} == {"word"}
    assert all(e.source.startswith("groups.txt:") for e in d.entries)


def test_inflection_follows_the_inferred_part_of_speech(tmp_path):
    t = compile_dictionary(DATA / "groups.txt", tmp_path)
    assert {c.original for c in t.reverse[("desks",)]} == {"tables"}
    assert "advised" in {c.original for c in t.reverse[("counselled",)] + t.reverse.get(("counseled",), [])}
    assert ("officer",) not in t.reverse  # X: literal, no singular invented
    assert ("armed", "forces") in t.reverse and t.max_len >= 2
    assert t.reverse[("tuesday",)][0].original == "Monday"  # capitals of names kept, matching ignores case


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252"), ("utf-16", "utf-16")],
)
def test_encodings(tmp_path, encoding, expected):
    path = tmp_path / "dict.txt"
    path.write_bytes("café|bistro\r\nit’s|it is\r\nrésumé|CV\r\n".encode(encoding))
    d = read_dictionary(path)
    assert d.encoding == expected
    assert _pairs(d) == {("café", ("bistro",)), ("it’s", ("it is",)), ("résumé", ("CV",))}


def test_mixed_encodings_are_decoded_line_by_line(tmp_path):
    # A UTF-8 file with a cp1252 file appended, and a byte cp1252 does not define (Latin-1 then).
    path = tmp_path / "dict.txt"
    path.write_bytes("café|bistro\n".encode() + "naïve|innocent\n".encode("cp1252") + b"foo\x81|bar\n")
    d = read_dictionary(path)
    assert d.encoding == "utf-8+cp1252+latin-1"
    assert [e.original for e in d.entries] == ["café", "naïve", "foo\x81"]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("say: mention, state\nbig: large; huge\n", "colon-list"),
        ("say=mention,state\nbig=large,huge\n", "equals-list"),
        ("say => mention|state\nbig -> large, huge\n", "equals-list"),
    ],
)
def test_word_lists(tmp_path, text, fmt):
    path = tmp_path / "list.txt"
    path.write_text(text, encoding="utf-8")
    d = read_dictionary(path)
    assert d.format == fmt
    assert _pairs(d) == {("say", ("mention", "state")), ("big", ("large", "huge"))}
    assert [e.pos for e in d.entries] == ["VERB", "ADJ"]


def test_a_spintax_document_gives_mutual_alternatives(tmp_path):
    path = tmp_path / "article.txt"
    path.write_text(
        "The {company|firm} {said|stated} it would {cut|reduce} jobs.\n"
        "A line of plain text.\n"
        "Later the {firm|company} grew {{quickly|fast}|rapidly}.\n",
        encoding="utf-8",
    )
    d = read_dictionary(path)
    assert d.format == "spintax" and d.malformed == 0
    pairs = _pairs(d)
    assert {("company", ("firm",)), ("firm", ("company",)), ("said", ("stated",)), ("stated", ("said",))} <= pairs
    assert ("quickly", ("fast",)) in pairs and ("rapidly", ("quickly",)) in pairs  # nested: inner group first
    assert d.groups == 5  # {firm|company} repeats {company|firm}


def test_table_v1_keeps_its_own_part_of_speech_and_kind(tmp_path):
    path = tmp_path / "phrase_mine.tsv"
    path.write_text("look into\texamine|probe\tVERB\nbroken line\nsay\tmention\tVERB\n", encoding="utf-8")
    d = read_dictionary(path)
    assert d.format == "table-v1" and d.malformed == 1
    assert [(e.original, e.pos, e.kind) for e in d.entries] == [("look into", "VERB", "phrase"), ("say", "VERB", "phrase")]


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (b"", None, "no entries"),
        (b"# only a comment\n\n", None, "no entries"),
        (b"alpha\nbeta\ngamma|delta\n", 1, "2 of 3 lines are malformed"),
        (b"table|desk\nchair\nlamp\nsofa|couch\nbed\n", 2, "3 of 5 lines are malformed"),
        (b"just words\nno separators at all\n", 1, "no dictionary lines"),
        (b"table|desk\n\x00\x01binary", 2, "binary data"),
        (b"say\tmention\tVERB\nbroken\nalso broken\n", 2, "2 of 3 lines are malformed (more than 50%) for format table-v1; first: expected 3"),
        # line 1 only loses an item (a note, not malformed): the error points at line 2
        (b"big|large|one two three four five six seven\nsmall\ntiny\n", 2, "first: not a groups line: 'small'"),
    ],
)
def test_unusable_files_raise_with_file_and_line(tmp_path, content, line, words):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DictionaryError) as err:
        read_dictionary(path)
    assert err.value.path == path and err.value.line == line
    assert words in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_half_malformed_is_still_usable(tmp_path):
    path = tmp_path / "half.txt"
    path.write_text("table|desk\nchair\n", encoding="utf-8")
    assert len(read_dictionary(path).entries) == 1


def test_missing_paths_and_empty_folders_raise(tmp_path):
    with pytest.raises(DictionaryError, match="no such file"):
        dictionary_files([tmp_path / "missing.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DictionaryError, match="holds no dictionary files"):
        dictionary_files([tmp_path / "empty"])


def test_compiled_dictionaries_are_cached_by_content(tmp_path, monkeypatch):
    path = tmp_path / "groups.txt"
    path.write_bytes((DATA / "groups.txt").read_bytes())
    monkeypatch.setattr(dictionaries, "_memo", {})  # same bytes compiled by another test: in memory already
    first = compile_dictionary(path, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("dictionary-*.pkl"))) == 1
    dictionaries._memo.clear()
    monkeypatch.setattr(dictionaries, "parse_dictionary", lambda *a: pytest.fail("parsed again instead of loading the cache"))
    again = compile_dictionary(path, tmp_path / "cache")
    assert again is not first and again.version == first.version and again.reverse == first.reverse
    path.write_text("table|desk\n", encoding="utf-8")
    monkeypatch.undo()
    changed = compile_dictionary(path, tmp_path / "cache")
    assert changed.version != first.version and len(changed) == 1


def test_extra_dictionaries_of_any_format_are_families_of_their_own(tmp_path):
    from workers.restoration.families import imported_families

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "groups.txt").write_bytes((DATA / "groups.txt").read_bytes())
    (extra / "word_mine.tsv").write_text("announce\tzorbify\tVERB\n", encoding="utf-8")
    groups, mine = imported_families([extra], cache_dir=tmp_path / "cache")
    assert (groups.name, mine.name) == ("import:groups", "import:word_mine")
    assert ("zorbulation",) in groups.table.reverse and ("zorbified",) in mine.table.reverse
    (extra / "bad.txt").write_text("alpha\nbeta\n", encoding="utf-8")
    with pytest.raises(DictionaryError) as err:
        imported_families([extra], cache_dir=tmp_path / "cache")
    assert err.value.path == extra / "bad.txt" and err.value.line == 1


def test_check_compiles_into_the_cache_in_a_child_process(tmp_path, monkeypatch):
    monkeypatch.setattr(dictionaries, "_memo", {})
    path = tmp_path / "groups.txt"
    path.write_text("table|desk\n", encoding="utf-8")
    version = dictionaries.check_dictionary(path, tmp_path / "cache")
    assert dictionaries._memo == {}  # nothing loaded here
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"dictionary-{version}.pkl"]
    assert compile_dictionary(path, tmp_path / "cache").version == version
    bad = tmp_path / "bad.txt"
    bad.write_text("alpha\nbeta\n", encoding="utf-8")
    with pytest.raises(DictionaryError) as err:  # raised in the child, rebuilt here
        dictionaries.check_dictionary(bad, tmp_path / "cache")
    assert (err.value.path, err.value.line) == (bad, 1)
