"""End to end on the real broker with the real worker process: articles in, exactly one output
per input message out (enriched event or dead-letter record), every output valid against its
schema, spun phrases restored, entities found, and the latency histograms counting every message.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SPUN = [
    {
        "id": "e2e-port",
        "title": "Port strike ends after staff settle for new contract",
        "text": (
            "Dock staff on the Port of Calder Bay returned to work on Monday after union members voted to "
            "accept a brand new contract that raises wages by 14 p.c. over three years. Union chief Marisol "
            "Vega mentioned the settlement protected jobs, whereas the port authority mentioned it anticipated "
            "site visitors to return to regular by the tip of the week. 1000's of companies rely on the port. "
            "The dispute was costing companies tens "
            "of millions of {dollars}, the governor mentioned on Friday."
        ),
        "source": "e2e",
        "extra_field": {"kept": True},
    },
    {
        "id": "e2e-bridge",
        "title": "State approves funding to repair ageing bridge",
        "text": (
            "The state transportation division accepted $38 million on Wednesday to restore the Kessler River "
            "Bridge. Officers mentioned the work would start within the spring, and Governor Helen Park mentioned "
            "commuters would face heavy site visitors for two years. The mission will price 12 p.c. more than "
            "planned."
        ),
    },
]
CLEAN = {
    "id": "e2e-clean",
    "title": "Library extends weekend opening hours",
    "text": (
        "The Fenwick public library will stay open until eight o'clock on Saturdays starting next month, "
        "the city said on Friday. Library director Grace Okafor said the extra hours would be paid for by a "
        "grant from a local foundation."
    ),
}
# (key, raw value, expected dead-letter kind)
BAD = [
    (b"bad-not-json", b"this is not json {", "not_json"),
    (b"bad-list", b'[{"text": "an article inside a list"}]', "not_object"),
    (b"bad-missing-text", b'{"id": "bad-missing-text", "title": "No text"}', "schema_violation"),
    (b"bad-empty-text", b'{"id": "bad-empty-text", "text": "   \\n  "}', "empty_text"),
    (b"bad-utf8", b'{"text": "caf\xe9 \xff"}', "invalid_utf8"),
]
# Spun phrase as received -> the restored wording. The restorer decides from context, and its own
# tests pin its exact behaviour; here most of these known phrases must come back restored.
EXPECTED_RESTORATIONS = {
    "p.c.": "percent",
    "{dollars}": "dollars",
    "site visitors": "traffic",
    "1000's": "thousands",
    "mentioned": "said",
}
MIN_RESTORED = 3


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (("{" + labels + "}") if labels else "")) + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.M)
    assert match, f"{name}{{{labels}}} not in /metrics"
    return float(match.group(1))


@pytest.fixture(scope="module")
def run(broker, kit, tmp_path_factory):
    """Start one worker, send the inputs, collect the outputs and a /metrics scrape."""
    import orjson

    worker = kit.launch_worker(kit.stream_env(broker), tmp_path_factory.mktemp("worker") / "worker.log")
    settings, port = worker.settings, worker.metrics_port
    try:
        worker.wait_ready(timeout_s=90)
        articles = SPUN + [CLEAN]
        inputs = [(a["id"].encode(), orjson.dumps(a)) for a in articles] + [(k, v) for k, v, _ in BAD]
        # All inputs on partition 0, so the order of their outputs can be checked.
        sent = kit.produce(settings, settings.input_topic, inputs, partition=0)
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(inputs))
        # Metrics are observed just after the sends are acknowledged: allow a moment.
        for _ in range(50):
            status, metrics_text = kit.http_get(port, "/metrics")
            if _metric(metrics_text, "unspun_end_to_end_latency_seconds_count") >= len(inputs):
                break
            time.sleep(0.1)
        yield {
            "settings": settings,
            "inputs": inputs,
            "sent": sent,
            "outputs": outputs,
            "metrics": metrics_text,
            "port": port,
            "proc": worker.proc,
            "env": worker.env,
        }
    finally:
        worker.stop()


def test_exactly_one_output_per_input(run):
    settings = run["settings"]
    keys_in = Counter(k for k, _ in run["inputs"])
    keys_out = Counter(r.key for r in run["outputs"])
    assert keys_out == keys_in, f"inputs {keys_in} vs outputs {keys_out}"
    events = [r for r in run["outputs"] if r.topic == settings.enriched_topic]
    dead = [r for r in run["outputs"] if r.topic == settings.dlq_topic]
    assert {r.key for r in events} == {a["id"].encode() for a in SPUN + [CLEAN]}
    assert len(dead) == len(BAD)


def test_every_output_is_schema_valid(run, schema_validator):
    settings = run["settings"]
    for record in run["outputs"]:
        assert record.json is not None, record.value[:200]
        name = "enriched.v1" if record.topic == settings.enriched_topic else "deadletter.v1"
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema_validator(name).iter_errors(record.json)]
        assert not errors, (record.key, errors)


def test_dead_letters_carry_kind_source_and_payload(run):
    settings = run["settings"]
    offsets = {k: md.offset for (k, _), md in zip(run["inputs"], run["sent"])}
    dead = {r.key: r.json for r in run["outputs"] if r.topic == settings.dlq_topic}
    for key, raw, kind in BAD:
        record = dead[key]
        assert record["kind"] == kind, record
        assert record["reason"]
        assert record["topic"] == settings.input_topic
        assert record["partition"] == 0 and record["offset"] == offsets[key]
        assert record["key"] == key.decode() and record["key_encoding"] == "utf-8"
        if record["payload_encoding"] == "base64":
            assert base64.b64decode(record["payload"]) == raw
        else:
            assert record["payload"].encode() == raw


def test_spun_phrases_restored_and_entities_found(run):
    settings = run["settings"]
    events = {r.json["id"]: r.json for r in run["outputs"] if r.topic == settings.enriched_topic}
    restored_pairs = {(e["original"], e["restored"]) for a in SPUN for e in events[a["id"]]["edits"]}
    found = [pair for pair in EXPECTED_RESTORATIONS.items() if pair in restored_pairs]
    assert len(found) >= MIN_RESTORED, f"restored only {found}; all edits: {sorted(restored_pairs)}"
    port = events["e2e-port"]
    assert port["meta"] == {"extra_field": {"kept": True}}
    for edit in port["edits"]:
        assert port["text"][edit["start"] : edit["end"]] == edit["original"]
    people = {m["text"] for m in port["entities"] if m["label"] == "PERSON"}
    assert "Marisol Vega" in people, port["entities"]
    for mention in port["entities"]:
        assert port["restored_text"][mention["start"] : mention["end"]] == mention["text"]
    assert any(m["label"] == "PERSON" for m in events["e2e-bridge"]["entities"])
    clean = events["e2e-clean"]
    assert clean["spin_score"] < 0.5
    assert len(clean["edits"]) <= 1


def test_outputs_keep_input_order(run):
    # All inputs were on partition 0; outputs were sent in that order, so their send times
    # (record timestamps) must not go backwards when listed by input offset.
    offsets = {k: md.offset for (k, _), md in zip(run["inputs"], run["sent"])}
    by_offset = sorted(run["outputs"], key=lambda r: offsets[r.key])
    stamps = [r.timestamp_ms for r in by_offset]
    assert stamps == sorted(stamps), [(r.key, r.timestamp_ms) for r in by_offset]


def test_metrics_count_every_message(run):
    text = run["metrics"]
    settings = run["settings"]
    n = len(run["inputs"])
    n_events = len(SPUN) + 1
    assert _metric(text, "unspun_messages_consumed_total", f'topic="{settings.input_topic}"') == n
    assert _metric(text, "unspun_events_emitted_total") == n_events
    assert _metric(text, "unspun_end_to_end_latency_seconds_count") == n
    assert _metric(text, "unspun_stage_duration_seconds_count", 'stage="decode"') == n
    assert _metric(text, "unspun_stage_duration_seconds_count", 'stage="produce"') == n
    assert _metric(text, "unspun_stage_duration_seconds_count", 'stage="restore"') == n_events
    assert _metric(text, "unspun_stage_duration_seconds_count", 'stage="ner"') == n_events
    assert _metric(text, "unspun_edits_per_article_count") == n_events
    assert _metric(text, "unspun_spin_score_count") == n_events
    assert _metric(text, "unspun_edits_total") >= MIN_RESTORED
    kinds = Counter(kind for _, _, kind in BAD)
    for kind, count in kinds.items():
        assert _metric(text, "unspun_dead_letters_total", f'kind="{kind}"') == count
    assert _metric(text, "unspun_dead_letters_total", 'kind="too_large"') == 0
    assert _metric(text, "unspun_worker_ready") == 1
    assert "unspun_batch_size_count" in text
    assert "process_resident_memory_bytes" in text
    assert re.search(r'unspun_consumer_lag\{partition="0",topic="[^"]+"\} 0\.0', text), "lag gauge missing"
    # Histogram buckets reach from 1 ms to 30 s.
    assert 'unspun_end_to_end_latency_seconds_bucket{le="0.001"}' in text
    assert 'unspun_end_to_end_latency_seconds_bucket{le="30.0"}' in text


def test_health_and_ready(run, kit):
    status, body = kit.http_get(run["port"], "/health")
    assert status == 200
    status, body = kit.http_get(run["port"], "/ready")
    assert status == 200 and json.loads(body)["ready"] is True


def test_graceful_stop(run):
    proc = run["proc"]
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def test_offsets_were_committed_so_a_restart_reprocesses_nothing(run, kit, start_worker):
    """Runs after test_graceful_stop: a new worker in the same group starts after the committed
    offsets, so no output is emitted a second time."""
    assert run["proc"].poll() is not None
    settings = run["settings"]
    worker = start_worker(run["env"])
    worker.wait_ready(timeout_s=90)
    time.sleep(3)
    status, text = kit.http_get(worker.metrics_port, "/metrics")
    assert _metric(text, "unspun_messages_consumed_total", f'topic="{settings.input_topic}"') == 0
    outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(run["inputs"]), settle_s=1)
    assert len(outputs) == len(run["inputs"])
