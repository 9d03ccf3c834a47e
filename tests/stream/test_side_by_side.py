"""Two workers on one machine, one consumer group: distinct metrics ports, partitions shared,
every message answered once."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_two_workers_share_the_partitions(broker, kit, start_worker):
    env = kit.stream_env(broker, UNSPUN_PARTITIONS="2")
    first = start_worker(env)
    second = start_worker(env)
    assert first.metrics_port != second.metrics_port
    first.wait_ready()
    second.wait_ready()
    settings = first.settings
    inputs = [(f"s{i}".encode(), orjson.dumps({"id": f"s{i}", "text": f"The council met on day {i}."})) for i in range(12)]
    kit.produce(settings, settings.input_topic, inputs)
    outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(inputs), timeout_s=90)
    assert Counter(r.key for r in outputs) == Counter(k for k, _ in inputs)
    partitions = []
    for worker in (first, second):
        status, body = kit.http_get(worker.metrics_port, "/ready")
        assert status == 200, body
        partitions += orjson.loads(body)["partitions"]
    assert sorted(partitions) == [0, 1]
