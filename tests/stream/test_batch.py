"""The batch logic of the agent (process_batch), without a broker: one output per message, in
order, and failures inside enrichment isolated to the articles they concern."""

from __future__ import annotations

import orjson
import pytest

from workers.articles import Rejected
from workers.settings import Settings
from workers.stream.agents import InMessage, process_batch


def _msg(offset: int, value: bytes | None, key: bytes | None = None) -> InMessage:
    return InMessage("articles", 0, offset, key if key is not None else f"k{offset}".encode(), value, 1_700_000_000.0)


def _article(article_id: str, text: str) -> bytes:
    return orjson.dumps({"id": article_id, "text": text})


class EchoEnricher:
    """Returns a minimal event per article, or a processing_error for texts containing POISON,
    and raises for the whole batch when a text contains EXPLODE."""

    ready = True
    versions = {"unspun": "test", "spinner_table": "t", "spacy_model": "m"}

    def enrich_many(self, articles, received_at=None):
        if any("EXPLODE" in a["text"] for a in articles):
            raise RuntimeError("batch failure")
        out = []
        for a in articles:
            if "POISON" in a["text"]:
                out.append(Rejected("processing_error", "injected failure", a["id"], "ValueError"))
            else:
                out.append({"id": a["id"], "text": a["text"], "edits": [], "title_edits": [], "spin_score": 0.0,
                            "latency_ms": {"restore": 1.0, "ner": 2.0, "total": 3.0}, "versions": self.versions})
        return out


@pytest.fixture(scope="module")
def settings():
    return Settings()


def test_one_output_per_message_in_order(settings):
    batch = [
        _msg(0, _article("a", "fine text")),
        _msg(1, b"not json"),
        _msg(2, _article("b", "POISON pill")),
        _msg(3, b"[]"),
        _msg(4, _article("c", "more fine text")),
        _msg(5, None),
    ]
    produced = process_batch(batch, EchoEnricher(), settings)
    assert [p.message.offset for p in produced] == [0, 1, 2, 3, 4, 5]
    kinds = [p.output.kind if p.output.kind == "event" else p.output.dead_letter_kind for p in produced]
    assert kinds == ["event", "not_json", "processing_error", "not_object", "event", "not_json"]
    poison = orjson.loads(produced[2].output.value)
    assert poison["error_class"] == "ValueError" and poison["id"] == "b" and poison["offset"] == 2
    event = orjson.loads(produced[0].output.value)
    assert produced[0].output.key == b"a" and event["latency_ms"]["decode"] >= 0


def test_an_exception_from_the_enricher_dead_letters_the_batch_articles_only(settings):
    batch = [_msg(0, _article("a", "EXPLODE")), _msg(1, b"{")]
    produced = process_batch(batch, EchoEnricher(), settings)
    assert [p.output.dead_letter_kind for p in produced] == ["processing_error", "not_json"]
    assert "batch failure" in orjson.loads(produced[0].output.value)["reason"]


def test_a_decoder_bug_is_a_processing_error(settings):
    def broken_decode(raw, settings):
        raise KeyError("oops")

    [produced] = process_batch([_msg(0, b"{}")], EchoEnricher(), settings, decode=broken_decode)
    record = orjson.loads(produced.output.value)
    assert record["kind"] == "processing_error" and record["error_class"] == "KeyError"


def test_too_large_event_is_dead_lettered(settings):
    batch = [_msg(0, _article("big", "z" * 50_000))]
    [produced] = process_batch(batch, EchoEnricher(), settings, max_message_bytes=20_000)
    assert produced.output.dead_letter_kind == "too_large"


def test_real_enricher_batch(settings):
    from workers.pipeline import Enricher

    batch = [_msg(0, _article("r1", "The governor mentioned on Friday that it would cost tens of millions of {dollars}.")),
             _msg(1, b'{"text": ""}')]
    produced = process_batch(batch, Enricher(settings), settings)
    event = orjson.loads(produced[0].output.value)
    assert produced[0].output.kind == "event" and event["restored_text"] != event["text"]
    assert produced[1].output.dead_letter_kind == "empty_text"


class MetaEnricher(EchoEnricher):
    """EchoEnricher that keeps each article's ``meta`` in its event, as the real Enricher does."""

    def enrich_many(self, articles, received_at=None):
        events = super().enrich_many(articles, received_at)
        for article, event in zip(articles, events):
            event["meta"] = article["meta"]
        return events


def test_an_event_that_cannot_be_encoded_is_a_dead_letter_for_that_message_only(settings):
    deep = b'{"id": "deep", "text": "fine text", "x": ' + b"[" * 300 + b"]" * 300 + b"}"
    batch = [_msg(0, _article("a", "fine text")), _msg(1, deep), _msg(2, _article("c", "more text"))]
    produced = process_batch(batch, MetaEnricher(), settings)
    assert [p.output.kind for p in produced] == ["event", "dead_letter", "event"]
    record = orjson.loads(produced[1].output.value)
    assert record["kind"] == "processing_error" and record["id"] == "deep"
    assert record["error_class"] == "TypeError" and "could not be encoded" in record["reason"]


def test_integers_over_64_bits_in_meta_stay_exact(settings):
    raw = b'{"id": "big", "text": "caf\\ud800 fine", "n": 123456789012345678901234567890, "m": {"k": [-9223372036854775809, 18446744073709551615]}}'
    [produced] = process_batch([_msg(0, raw)], MetaEnricher(), settings)
    assert produced.output.kind == "event"
    meta = orjson.loads(produced.output.value)["meta"]
    assert meta == {"n": "123456789012345678901234567890", "m": {"k": ["-9223372036854775809", 18446744073709551615]}}
