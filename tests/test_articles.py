"""Decoding and validation of input messages: every bad input gets its own dead-letter kind."""

import orjson
import pytest

from workers.articles import KINDS, Rejected, decode_article, derive_id
from workers.schemas import validator
from workers.settings import Settings

SETTINGS = Settings()


def kind_of(raw: bytes, settings: Settings = SETTINGS) -> str:
    with pytest.raises(Rejected) as info:
        decode_article(raw, settings)
    assert info.value.reason, "a dead letter must say why"
    assert info.value.kind in KINDS
    return info.value.kind


@pytest.mark.parametrize(
    "raw, kind",
    [
        (b"", "not_json"),
        (b"   ", "not_json"),
        (b"this is not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'"a string"', "not_object"),
        (b"\xff\xfe\x00text", "invalid_utf8"),
        (b'{"title": "no text"}', "schema_violation"),
        (b'{"text": 42}', "schema_violation"),
        (b'{"text": "ok", "title": 7}', "schema_violation"),
        (b'{"text": "ok", "id": ""}', "schema_violation"),
        (b'{"text": " \\n\\t "}', "empty_text"),
        (b'{"text": "a\\u0000b"}', "control_chars"),
        (b'{"text": "bell \\u0007 here"}', "control_chars"),
    ],
)
def test_bad_input_has_its_kind(raw, kind):
    assert kind_of(raw) == kind


def test_too_long_text_is_rejected_by_the_configured_limit():
    raw = orjson.dumps({"text": "word " * 100})
    assert kind_of(raw, Settings(max_text_bytes=100)) == "too_long"
    assert decode_article(raw, Settings(max_text_bytes=1000))["text"].startswith("word")


def test_html_is_stripped_or_rejected_per_policy():
    raw = orjson.dumps({"text": "<html><body><p>The mayor spoke.</p><script>x()</script><p>Then left.</p></body></html>"})
    article = decode_article(raw, Settings(html_policy="strip"))
    assert article["text"] == "The mayor spoke.\nThen left."
    assert article["html_stripped"] is True
    assert kind_of(raw, Settings(html_policy="reject")) == "html"


def test_inline_html_stays_in_its_sentence_and_titles_are_stripped_too():
    raw = orjson.dumps({"title": "<b>Port</b> news", "text": "<p>The corporate <b>mentioned</b> 1000's of <a href='x'>jobs</a>.</p><p>Next.</p>"})
    article = decode_article(raw, Settings(html_policy="strip"))
    assert article["text"] == "The corporate mentioned 1000's of jobs.\nNext."
    assert article["title"] == "Port news"


def test_valid_article_keeps_fields_and_extras_and_gets_an_id():
    raw = orjson.dumps({"title": "T", "text": "Body.", "url": "u", "lang_hint": "en", "tags": [1]})
    article = decode_article(raw, SETTINGS)
    assert article["id"] == derive_id("T", "Body.")
    assert article["meta"] == {"lang_hint": "en", "tags": [1]}
    assert article["url"] == "u" and article["title"] == "T"


def test_given_id_is_kept_and_derived_ids_are_stable_and_content_based():
    assert decode_article(b'{"id": "a-1", "text": "x"}', SETTINGS)["id"] == "a-1"
    assert derive_id("T", "x") == derive_id("T", "x") != derive_id("T", "y")


def test_escaped_lone_surrogates_become_one_replacement_character_each():
    article = decode_article(b'{"text": "ab\\ud800cd"}', SETTINGS)
    assert article["text"] == "ab\ufffdcd"
    orjson.dumps(article)  # still encodable


def test_schemas_are_valid_draft_2020_12():
    for name in ("article.v1", "enriched.v1", "deadletter.v1"):
        validator(name)  # raises SchemaError when the schema itself is wrong
