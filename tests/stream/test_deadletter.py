"""Dead-letter records and the size limit, without a broker."""

from __future__ import annotations

import base64

import orjson

from workers.stream.deadletter import build_dead_letter, encode_key, encode_output


def _record(raw, **kw):
    args = dict(topic="articles", partition=1, offset=7, key=b"k1", kind="not_json", reason="bad")
    args.update(kw)
    return build_dead_letter(raw, **args)


def test_utf8_payload_is_kept_as_text(schema_validator):
    record = _record(b"not json \xc3\xa9")
    assert record["payload_encoding"] == "utf-8" and record["payload"] == "not json é"
    assert record["payload_truncated"] is False
    assert record["key"] == "k1" and record["key_encoding"] == "utf-8"
    assert record["versions"]["unspun"]
    assert not list(schema_validator("deadletter.v1").iter_errors(record))


def test_invalid_utf8_payload_and_key_are_base64(schema_validator):
    record = _record(b"\xff\xfe", key=b"\x80", kind="invalid_utf8")
    assert record["payload_encoding"] == "base64" and base64.b64decode(record["payload"]) == b"\xff\xfe"
    assert record["key_encoding"] == "base64" and base64.b64decode(record["key"]) == b"\x80"
    assert not list(schema_validator("deadletter.v1").iter_errors(record))


def test_missing_value_and_key(schema_validator):
    record = _record(None, key=None)
    assert record["payload"] == "" and record["key"] is None and record["key_encoding"] is None
    assert not list(schema_validator("deadletter.v1").iter_errors(record))


def test_payload_that_fits_the_message_limit_is_kept_whole(schema_validator):
    raw = b"not json " + b"x" * 300_000  # far over the old fixed 64 KiB cut
    record = _record(raw, max_message_bytes=1_000_000)
    assert record["payload_truncated"] is False and record["payload_encoding"] == "utf-8"
    assert record["payload"].encode() == raw
    assert not list(schema_validator("deadletter.v1").iter_errors(record))


def test_payload_over_the_message_limit_is_cut_to_fit_and_flagged(schema_validator):
    raw = "é \" \n".encode() * 40_000  # JSON escaping makes the text longer than its bytes
    key = b"k" * 500
    record = _record(raw, key=key, max_message_bytes=50_000, reason="r" * 10_000)
    assert record["payload_truncated"] is True and record["payload_encoding"] == "base64"
    kept = base64.b64decode(record["payload"])
    assert raw.startswith(kept) and len(kept) > 30_000
    assert len(orjson.dumps(record)) + len(key) <= 50_000
    assert not list(schema_validator("deadletter.v1").iter_errors(record))


def test_escaped_text_near_the_limit_is_measured_not_guessed():
    raw = b'"' * 30_000  # 30 kB of bytes, 60 kB once escaped in JSON
    record = _record(raw, max_message_bytes=50_000)
    assert record["payload_truncated"] is True
    assert len(orjson.dumps(record)) <= 50_000


def test_long_reason_is_cut():
    record = _record(b"x", reason="boom " * 10_000)
    assert len(record["reason"]) < 4100 and record["reason"].endswith("characters in all)")


def test_reason_with_a_lone_surrogate_still_encodes():
    from workers.stream.deadletter import dead_letter_output

    out = dead_letter_output(_record(b"x", reason="bad \ud800 text"), b"k")
    assert orjson.loads(out.value)["reason"] == "bad ? text"


def test_encode_key():
    assert encode_key(None) == (None, None)
    assert encode_key("é".encode()) == ("é", "utf-8")


def _event(text: str) -> dict:
    return {"id": "a1", "text": text, "versions": {"unspun": "0", "spacy_model": "m", "spinner_table": "t"}}


def test_small_event_is_sent_keyed_by_id():
    out = encode_output(_event("short"), raw=b"{}", topic="articles", partition=0, offset=3, key=b"in", max_message_bytes=1_000_000)
    event = orjson.loads(out.value)
    assert out.kind == "event" and out.key == b"a1" and event["text"] == "short"
    assert event["input"] == {"topic": "articles", "partition": 0, "offset": 3}


def test_event_over_the_size_limit_becomes_a_small_too_large_dead_letter(schema_validator):
    raw = orjson.dumps({"id": "a1", "text": "y" * 300_000})
    out = encode_output(_event("y" * 300_000), raw=raw, topic="articles", partition=2, offset=9, key=b"in", max_message_bytes=100_000)
    assert out.kind == "dead_letter" and out.dead_letter_kind == "too_large"
    assert len(out.value) < 100_000
    record = orjson.loads(out.value)
    assert record["kind"] == "too_large" and record["id"] == "a1"
    assert record["payload_truncated"] is True and "100000" in record["reason"]
    assert (record["topic"], record["partition"], record["offset"], record["key"]) == ("articles", 2, 9, "in")
    assert record["input"] == {"topic": "articles", "partition": 2, "offset": 9}
    assert not list(schema_validator("deadletter.v1").iter_errors(record))
