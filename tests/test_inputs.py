"""Reading article files for `unspun produce` and `unspun restore`."""

import io

import pytest

from workers.articles import derive_id
from workers.inputs import InputError, read_articles


def test_txt_first_line_is_the_title(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("\ufeffHeadline here\n\nFirst paragraph.\n\nSecond.\n", encoding="utf-8")
    [article] = read_articles([str(p)])
    assert article["title"] == "Headline here"
    assert article["text"] == "First paragraph.\n\nSecond."
    assert article["id"] == derive_id("Headline here", "First paragraph.\n\nSecond.")


def test_json_object_list_and_jsonl(tmp_path):
    (tmp_path / "one.json").write_text('{"id": "x", "text": "a"}')
    (tmp_path / "many.json").write_text('[{"text": "b"}, {"text": "c", "title": "t"}]')
    (tmp_path / "lines.jsonl").write_text('{"text": "d"}\n\n{"id": "e", "text": "e"}\n')
    got = list(read_articles([str(tmp_path / n) for n in ("one.json", "many.json", "lines.jsonl")]))
    assert [a["text"] for a in got] == ["a", "b", "c", "d", "e"]
    assert got[0]["id"] == "x" and got[4]["id"] == "e"
    assert all(a["id"] for a in got)


def test_stdin_json_lines_and_text(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "a"}\n{"text": "b"}\n'))
    assert [a["text"] for a in read_articles(["-"])] == ["a", "b"]
    monkeypatch.setattr("sys.stdin", io.StringIO("Title\nBody"))
    assert list(read_articles(["-"]))[0]["title"] == "Title"


def test_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(InputError, match="missing.txt"):
        list(read_articles([str(tmp_path / "missing.txt")]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2"):
        list(read_articles([str(bad)]))
    (tmp_path / "list.jsonl").write_text("[1]\n")
    with pytest.raises(InputError, match="expected a JSON object"):
        list(read_articles([str(tmp_path / "list.jsonl")]))


def test_a_single_line_is_text_not_a_title(tmp_path, monkeypatch):
    p = tmp_path / "one.txt"
    p.write_text("The corporate mentioned 1000's of jobs\n")
    [article] = read_articles([str(p)])
    assert article["text"] == "The corporate mentioned 1000's of jobs" and "title" not in article
    monkeypatch.setattr("sys.stdin", io.StringIO("Just one line\n"))
    assert list(read_articles(["-"]))[0]["text"] == "Just one line"


@pytest.mark.parametrize("name", ["empty.json", "empty.jsonl", "empty.txt", "empty.md"])
def test_an_empty_file_is_the_same_error_whatever_its_format(tmp_path, name):
    (tmp_path / name).write_text("  \n")
    with pytest.raises(InputError, match=f"{name}: empty, no articles"):
        list(read_articles([str(tmp_path / name)]))


def test_an_empty_json_list_is_an_empty_input(tmp_path, monkeypatch):
    (tmp_path / "list.json").write_text("[]\n")
    with pytest.raises(InputError, match="list.json: empty, no articles"):
        list(read_articles([str(tmp_path / "list.json")]))
    monkeypatch.setattr("sys.stdin", io.StringIO("[ ]\n"))
    with pytest.raises(InputError, match="<stdin>: empty, no articles"):
        list(read_articles(["-"]))


def test_stdin_that_starts_like_json_must_parse(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "The firm mentioned it."\n'))
    with pytest.raises(InputError, match=r"<stdin>: not JSON: unexpected end of data: line \d+ column \d+.*--format text"):
        list(read_articles(["-"]))
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "The firm mentioned it."\n'))
    [article] = read_articles(["-"], fmt="text")
    assert article["text"] == '{"text": "The firm mentioned it."'
    monkeypatch.setattr("sys.stdin", io.StringIO("{dollars|bucks} were spent\n"))  # spintax is text
    assert [a["text"] for a in read_articles(["-"])] == ["{dollars|bucks} were spent"]


def test_a_broken_multi_line_json_file_names_where_it_breaks(tmp_path):
    p = tmp_path / "pretty.json"
    p.write_text('{\n  "id": "a",\n  "text": "x",\n}\n')
    with pytest.raises(InputError, match=r"pretty.json: not JSON: trailing comma is not allowed: line 3 column 14"):
        list(read_articles([str(p)]))


def test_byte_order_mark_and_binary_files(tmp_path):
    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf{"id": "b", "text": "a"}')
    assert [a["id"] for a in read_articles([str(tmp_path / "bom.json")])] == ["b"]
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(InputError, match=r"image.txt: not UTF-8 \(line 1, byte 0 of the line, 0 of the file\)"):
        list(read_articles([str(tmp_path / "image.txt")]))


def test_stdin_text_that_starts_with_a_bracket_is_text(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("[Reuters] The corporate mentioned 1000's of jobs\n"))
    [article] = read_articles(["-"])
    assert article["text"] == "[Reuters] The corporate mentioned 1000's of jobs"
    monkeypatch.setattr("sys.stdin", io.StringIO('[{"text": "a"}, {"text": "b"}]'))
    assert [a["text"] for a in read_articles(["-"])] == ["a", "b"]


@pytest.mark.parametrize("name, body", [
    ("one.json", '{"text": "a", "n": 18446744073709551616, "m": [-9223372036854775809, 7]}'),
    ("lines.jsonl", '{"text": "a", "n": 18446744073709551616, "m": [-9223372036854775809, 7]}\n'),
])
def test_integers_beyond_64_bits_are_read_exactly(tmp_path, name, body):
    # the event keeps them as exact decimal strings (README "Messages"); a float would lose digits
    (tmp_path / name).write_text(body)
    [article] = read_articles([str(tmp_path / name)])
    assert type(article["n"]) is int and article["n"] == 2**64 and article["m"] == [-(2**63) - 1, 7]


def test_produce_encodes_integers_beyond_64_bits_as_the_worker_keeps_them(tmp_path):
    import orjson

    from workers.cli import _article_messages

    (tmp_path / "lines.jsonl").write_text('{"id": "a1", "text": "a", "n": 123456789012345678901}\n')
    [(key, value)] = _article_messages(read_articles([str(tmp_path / "lines.jsonl")]))
    assert key == b"a1" and orjson.loads(value)["n"] == "123456789012345678901"


def test_a_file_with_nan_is_refused_like_a_message(tmp_path):
    (tmp_path / "one.json").write_text('{"text": "a", "n": NaN, "big": 123456789012345678901}')
    with pytest.raises(InputError, match="one.json"):
        list(read_articles([str(tmp_path / "one.json")]))
