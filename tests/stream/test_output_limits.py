"""Outputs at the edges, through the real worker process on the real broker: dead-letter payloads
sized by UNSPUN_MAX_MESSAGE_BYTES (kept whole when they fit, cut and flagged when not); an event
that cannot be encoded is a dead letter for its message alone, the rest of its batch goes out;
integers over 64 bits in extra fields stay exact."""

from __future__ import annotations

import base64
import time

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MAX_MESSAGE_BYTES = 200_000
FITS = b"not json " + b"x" * 150_000  # over the old fixed 64 KiB cut, under the message limit
CUT = b"not json " + b"y" * 400_000  # over the message limit: cut to fit
TEXT = "The governor mentioned on Friday that Marisol Vega would lead the port authority."
# An extra field nested deeper than orjson encodes (it decodes it): the event cannot be encoded.
DEEP = b'{"id": "deep", "text": "%s", "x": %s%s}' % (TEXT.encode(), b"[" * 300, b"]" * 300)
# Integers over 64 bits, one with an escaped lone surrogate in the text (the stdlib parser path).
BIG = b'{"id": "big", "text": "%s", "n": 123456789012345678901234567890}' % TEXT.encode()
BIG_SURROGATE = b'{"id": "big-s", "text": "caf\\ud800 %s", "m": {"k": [-9223372036854775809]}}' % TEXT.encode()
# (key, raw value); all on one partition, sent together, so most share a batch.
INPUTS = [
    (b"dl-fits", FITS),
    (b"dl-cut", CUT),
    (b"ok-1", b'{"id": "ok-1", "text": "%s"}' % TEXT.encode()),
    (b"deep", DEEP),
    (b"big", BIG),
    (b"big-s", BIG_SURROGATE),
    (b"ok-2", b'{"id": "ok-2", "text": "%s Again."}' % TEXT.encode()),
    # Under the message limit as input, but its event (text and restored text) is over it.
    (b"too-large", b'{"id": "too-large", "text": "%s"}' % ((TEXT + " ") * (110_000 // (len(TEXT) + 1))).encode()),
]
N_EVENTS = 4  # ok-1, ok-2, big, big-s


@pytest.fixture(scope="module")
def run(broker, kit, tmp_path_factory):
    """One worker with a 200 kB message limit; every input sent, every output collected."""
    env = kit.stream_env(broker, UNSPUN_MAX_MESSAGE_BYTES=str(MAX_MESSAGE_BYTES))
    worker = kit.launch_worker(env, tmp_path_factory.mktemp("limits") / "worker.log")
    settings = worker.settings
    try:
        worker.wait_ready(timeout_s=90)
        kit.produce(settings, settings.input_topic, INPUTS, partition=0)
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(INPUTS), timeout_s=90)
        for _ in range(50):  # metrics are recorded just after the sends are acknowledged
            metrics_text = kit.http_get(worker.metrics_port, "/metrics")[1]
            if f"unspun_end_to_end_latency_seconds_count {float(len(INPUTS))}" in metrics_text:
                break
            time.sleep(0.1)
        yield {"settings": settings, "outputs": {r.key: r for r in outputs}, "all": outputs,
               "metrics": metrics_text, "proc": worker.proc, "log": worker.log_path}
    finally:
        worker.stop()


def test_one_output_per_input_and_the_worker_is_still_running(run):
    assert sorted(r.key for r in run["all"]) == sorted(k for k, _ in INPUTS)
    assert run["proc"].poll() is None, run["log"].read_text()[-3000:]


def test_dead_letter_payload_that_fits_is_kept_whole(run, schema_validator):
    record = run["outputs"][b"dl-fits"]
    assert record.topic == run["settings"].dlq_topic
    assert record.json["payload_truncated"] is False and record.json["payload_encoding"] == "utf-8"
    assert record.json["payload"].encode() == FITS
    assert not list(schema_validator("deadletter.v1").iter_errors(record.json))


def test_dead_letter_payload_over_the_limit_is_cut_to_fit(run, schema_validator):
    record = run["outputs"][b"dl-cut"]
    assert record.json["kind"] == "not_json" and record.json["payload_truncated"] is True
    kept = base64.b64decode(record.json["payload"])
    assert CUT.startswith(kept) and len(kept) > MAX_MESSAGE_BYTES // 2
    assert len(record.value) <= MAX_MESSAGE_BYTES
    assert not list(schema_validator("deadletter.v1").iter_errors(record.json))


def test_an_unencodable_event_is_a_dead_letter_and_its_batch_still_goes_out(run, schema_validator):
    out = run["outputs"]
    record = out[b"deep"]
    assert record.topic == run["settings"].dlq_topic, record.value[:300]
    assert record.json["kind"] == "processing_error" and record.json["id"] == "deep"
    assert "could not be encoded" in record.json["reason"] and record.json["error_class"] == "TypeError"
    assert not list(schema_validator("deadletter.v1").iter_errors(record.json))
    for key in (b"ok-1", b"ok-2", b"big", b"big-s"):
        assert out[key].topic == run["settings"].enriched_topic, (key, out[key].value[:300])


def test_integers_over_64_bits_stay_exact_as_strings(run, schema_validator):
    big = run["outputs"][b"big"].json
    assert big["meta"] == {"n": "123456789012345678901234567890"}
    big_s = run["outputs"][b"big-s"].json
    assert big_s["meta"] == {"m": {"k": ["-9223372036854775809"]}}
    assert big_s["text"].startswith("caf\ufffd ")
    for event in (big, big_s):
        assert not list(schema_validator("enriched.v1").iter_errors(event))


def _metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in /metrics")


def test_metrics_count_only_what_was_emitted(run):
    out, text = run["outputs"], run["metrics"]
    assert out[b"too-large"].json["kind"] == "too_large"
    assert _metric(text, "unspun_events_emitted_total") == N_EVENTS
    for name in ("unspun_spin_score_count", "unspun_edits_per_article_count"):
        assert _metric(text, name) == N_EVENTS, name
    for stage in ("restore", "ner"):
        assert _metric(text, f'unspun_stage_duration_seconds_count{{stage="{stage}"}}') == N_EVENTS, stage
    assert _metric(text, 'unspun_dead_letters_total{kind="too_large"}') == 1
    assert _metric(text, 'unspun_dead_letters_total{kind="processing_error"}') == 1
    assert _metric(text, 'unspun_dead_letters_total{kind="not_json"}') == 2
