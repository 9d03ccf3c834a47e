"""The per-article time budget on the real broker with the real worker: an article that never
finishes (the test-only UNSPUN_TEST_SLOW_MARKER hook makes the enrichment child spin on it) is
dead-lettered with kind=timeout, and the articles after it on the same partition are enriched."""

from __future__ import annotations

import re

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MARKER = "NEVER-ENDING-ARTICLE-7f3a"
TEXT = "The governor mentioned on Friday that the port would reopen, and Marisol Vega welcomed the news."


def test_an_article_over_the_budget_is_dead_lettered_and_the_partition_moves_on(broker, kit, start_worker):
    env = kit.stream_env(broker, UNSPUN_ARTICLE_TIMEOUT_S="2", UNSPUN_TEST_SLOW_MARKER=MARKER)
    worker = start_worker(env)
    worker.wait_ready()
    settings = worker.settings
    ids = [f"t{i}" for i in range(7)]
    slow = "t3"
    messages = [
        (i.encode(), orjson.dumps({"id": i, "text": f"{TEXT} {MARKER}" if i == slow else f"{TEXT} Item {i}."}))
        for i in ids
    ]
    kit.produce(settings, settings.input_topic, messages, partition=0)
    outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(ids), timeout_s=90, settle_s=2)

    by_key = {r.key.decode(): r for r in outputs}
    assert sorted(by_key) == ids and len(outputs) == len(ids), [(r.topic, r.key) for r in outputs]
    record = by_key[slow]
    assert record.topic == settings.dlq_topic
    assert record.json["kind"] == "timeout", record.json
    assert "UNSPUN_ARTICLE_TIMEOUT_S" in record.json["reason"] and record.json["id"] == slow
    assert record.json["payload"] == messages[3][1].decode()
    for i in ids:
        if i != slow:
            assert by_key[i].topic == settings.enriched_topic, by_key[i].json
            assert by_key[i].json["restored_text"]

    status, text = kit.http_get(worker.metrics_port, "/metrics")
    assert re.search(r'^unspun_dead_letters_total\{kind="timeout"\} 1\.0$', text, re.M)
    assert "enrichment process restarted" in worker.log_path.read_text(errors="replace")
    assert worker.stop() == 0
