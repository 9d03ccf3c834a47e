from workers.restoration.table import inflections, kind_of, load_table, parse_lines


def test_kinds_from_file_names(tmp_path):
    assert kind_of(tmp_path / "word_verbs.tsv") == "word"
    assert kind_of(tmp_path / "phrase.tsv") == "phrase"
    assert kind_of(tmp_path / "name.tsv") == "name"


def test_verb_inflection_pairs_first_words(mini_table):
    rev = mini_table.reverse
    assert "said" in {c.original for c in rev[("mentioned",)]}
    assert "came" in {c.original for c in rev[("got", "here")]}
    assert "says" in {c.original for c in rev[("states",)]}
    assert "saying" in {c.original for c in rev[("pointing", "out")]}
    assert "relied on" not in {c.original for c in rev.get(("relied", "on"), [])}
    assert "depended on" in {c.original for c in rev[("relied", "on")]}


def test_noun_plural_and_adjective_degrees(mini_table):
    rev = mini_table.reverse
    assert "companies" in {c.original for c in rev[("agencies",)]}
    assert "banks" in {c.original for c in rev[("financial", "institutions")]}
    assert "faster" in {c.original for c in rev[("quicker",)]}


def test_literal_and_multitoken_keys(mini_table):
    rev = mini_table.reverse
    assert rev[("1000's",)][0].original == "thousands"
    assert rev[("p", ".", "c", ".")][0].original == "percent"
    assert rev[("i", "used", "to", "be")][0].original == "I was"
    assert mini_table.max_len >= 4


def test_bad_lines_are_reported_not_raised():
    entries, problems = parse_lines(["ok\tfine\tX", "broken line", "x\t\tX", "y\tz\tWHAT"], "word", "t.tsv")
    assert [e.original for e in entries] == ["ok", "y"]
    assert len(problems) == 3


def test_missing_table_is_empty_and_versions_follow_the_files(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "word_x.tsv").write_text("guarantee\tassure\tVERB\n", encoding="utf-8")
    t1 = load_table(tmp_path / "missing", use_cache=False)
    t2 = load_table(tmp_path / "t", use_cache=False)
    assert len(t1) == 0 and len(t2) == 1 and t1.version != t2.version
    assert ("assured",) in t2.reverse


def test_compiled_cache_round_trip(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "word_x.tsv").write_text("say\tmention\tVERB\n", encoding="utf-8")
    a = load_table(tmp_path / "t", cache_dir=tmp_path / "cache")
    b = load_table(tmp_path / "t", cache_dir=tmp_path / "cache")
    assert a.version == b.version and a.reverse == b.reverse
    assert list((tmp_path / "cache").glob("table-*.pkl"))


def test_inflections_of_an_entry(mini_table):
    e = next(x for x in mini_table.entries if x.original == "come")
    tags = {tag: (o, s) for tag, o, s in inflections(e)}
    assert tags["VBD"][0] == "came" and "got here" in tags["VBD"][1]
