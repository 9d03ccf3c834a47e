"""The worker among other Kafka clients, on the real broker with one real worker process.

Articles and bad messages are produced in every compression codec (none, gzip, snappy, lz4, zstd)
by aiokafka and by librdkafka (confluent-kafka), with headers (W3C ``traceparent``, a correlation
id) and some with no usable timestamp or an old one; the worker sends its outputs zstd-compressed
(``UNSPUN_OUTPUT_COMPRESSION``). Its outputs are then read back by librdkafka and by aiokafka:

* every input yields exactly one output, valid against ``schemas/``, with the input's
  coordinates (``input``) and headers, and unspun's ``content-type`` and ``unspun-schema``;
* dead letters carry Kafka Connect's dead-letter context headers;
* the latency metrics skip and count messages without a timestamp, and a 200 s old message
  lands in the 300 s bucket (not in +Inf);
* when a second worker joins the group, the first stops exporting the lag of the partition it
  lost (the last test: it changes the group).
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
TEXT = (
    "Officers mentioned the bridge on Elm Street in {city} would reopen on Monday after repairs. "
    "Mayor Dana Whitfield mentioned 1000's of commuters would use it again."
)
CITIES = ["Portland", "Denver", "Austin", "Boston", "Tucson", "Omaha", "Fresno", "Toledo", "Akron", "Salem", "Provo"]
OLD_S = 200  # age of the "old" article's timestamp, seconds
CONNECT_HEADERS = (
    "__connect.errors.topic",
    "__connect.errors.partition",
    "__connect.errors.offset",
    "__connect.errors.connector.name",
    "__connect.errors.stage",
    "__connect.errors.exception.class.name",
    "__connect.errors.exception.message",
)


def _article(key: str, n: int) -> bytes:
    return orjson.dumps({"id": key, "title": f"Bridge reopens in {CITIES[n % len(CITIES)]}", "text": TEXT.format(city=CITIES[n % len(CITIES)])})


def _headers(key: str) -> list[tuple[str, bytes]]:
    return [("traceparent", f"00-{key.encode().hex():0<32.32}-00f067aa0ba902b7-01".encode()), ("x-correlation-id", key.encode())]


def _produce_aiokafka(settings, topic, messages, codec):
    """Send ``(key, value, timestamp_ms or None)`` with ``codec``, headers from ``_headers``."""
    from aiokafka import AIOKafkaProducer

    from workers.stream.kafka import client_kwargs

    async def run():
        producer = AIOKafkaProducer(
            acks="all", compression_type=None if codec == "none" else codec, **client_kwargs(settings)
        )
        await producer.start()
        try:
            futures = [
                await producer.send(topic, value=value, key=key.encode(), timestamp_ms=ts, headers=_headers(key))
                for key, value, ts in messages
            ]
            return [await f for f in futures]
        finally:
            await producer.stop()

    return asyncio.run(run())


def _produce_librdkafka(bootstrap, topic, messages, codec):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "acks": "all"})
    errors = []
    for key, value in messages:
        producer.produce(topic, value, key=key.encode(), headers=_headers(key), on_delivery=lambda e, m: errors.append(e))
    assert producer.flush(30) == 0
    assert errors == [None] * len(messages), errors


def _consume_librdkafka(bootstrap, topics, expected, timeout_s=90.0):
    """Every record of ``topics`` from the beginning (no group), read by librdkafka, until
    ``expected`` arrived (then one more second for any extra one)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(timeout=10)
        consumer.assign(
            [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in metadata.topics[t].partitions]
        )
        records, deadline, settle = [], time.monotonic() + timeout_s, None
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            message = consumer.poll(0.2)
            if message is not None:
                assert message.error() is None, message.error()
                records.append(message)
            if settle is None and len(records) >= expected:
                settle = time.monotonic() + 1.0
        return records
    finally:
        consumer.close()


#: Kafka's codec ids in a record batch's attributes.
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def _batch_codecs(settings, topic: str) -> set[int]:
    """The compression codec ids of every record batch stored in ``topic``, read with raw Fetch
    requests (aiokafka's consumer decompresses without saying what it found)."""
    from aiokafka import AIOKafkaClient, TopicPartition
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.record.memory_records import MemoryRecords

    from workers.stream.kafka import client_kwargs

    async def run():
        client = AIOKafkaClient(**client_kwargs(settings))
        await client.bootstrap()
        try:
            await client.force_metadata_update()
            found = set()
            for p in client.cluster.partitions_for_topic(topic) or ():
                node = client.cluster.leader_for_partition(TopicPartition(topic, p))
                response = await client.send(node, FetchRequest(100, 1, 50_000_000, 0, [(topic, [(p, 0, 50_000_000)])]))
                for _, partitions in response.topics:
                    for partition in partitions:
                        records = MemoryRecords(partition[-1])
                        while (batch := records.next_batch()) is not None:
                            found.add(batch.compression_type)
            return found
        finally:
            await client.close()

    return asyncio.run(run())


def _metric(text: str, name: str) -> float:
    match = re.search(re.escape(name) + r" ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


@pytest.fixture(scope="module")
def run(broker, kit, tmp_path_factory):
    """One worker (zstd output), every kind of input, its outputs read by librdkafka and aiokafka."""
    env = kit.stream_env(broker, UNSPUN_OUTPUT_COMPRESSION="zstd")
    worker = kit.launch_worker(env, tmp_path_factory.mktemp("interop") / "worker.log")
    settings = worker.settings
    topic = settings.input_topic
    try:
        worker.wait_ready(timeout_s=90)
        inputs: dict[str, str] = {}  # key -> "event" or "dead_letter"
        now_ms = int(time.time() * 1000)
        n = 0
        for codec in CODECS:
            batch = [(f"aio-{codec}-{i}", _article(f"aio-{codec}-{i}", n + i), None) for i in range(2)]
            batch.append((f"aio-{codec}-bad", b"{not json", None))
            n += 2
            if codec == "none":  # producers that set no timestamp, and an old message
                batch += [(f"aio-nots-{i}", _article(f"aio-nots-{i}", i), ts) for i, ts in enumerate((0, -1))]
                batch.append(("aio-old", _article("aio-old", 3), now_ms - OLD_S * 1000))
            _produce_aiokafka(settings, topic, batch, codec)
            rd = [(f"rd-{codec}", _article(f"rd-{codec}", n)), (f"rd-{codec}-bad", b"[1, 2")]
            _produce_librdkafka(broker.bootstrap, topic, rd, codec)
            for key, value, *_ in batch + rd:
                inputs[key] = "dead_letter" if key.endswith("-bad") else "event"
        topics = [settings.enriched_topic, settings.dlq_topic]
        records = _consume_librdkafka(broker.bootstrap, topics, expected=len(inputs))
        aiokafka_records = kit.consume(settings, topics, expected=len(inputs), settle_s=0.2)
        for _ in range(50):  # metrics are observed just after the sends are acknowledged
            _, metrics_text = kit.http_get(worker.metrics_port, "/metrics")
            done = _metric(metrics_text, "unspun_end_to_end_latency_seconds_count") + _metric(
                metrics_text, "unspun_missing_timestamp_total"
            )
            if done >= len(inputs):
                break
            time.sleep(0.1)
        codecs = {t: _batch_codecs(settings, t) for t in [topic, *topics]}
        yield {
            "codecs": codecs,
            "worker": worker,
            "settings": settings,
            "inputs": inputs,
            "records": records,
            "aiokafka_records": aiokafka_records,
            "metrics": metrics_text,
        }
    finally:
        worker.stop()


def test_every_input_in_every_codec_gets_one_output(run):
    settings = run["settings"]
    got = sorted((m.key().decode(), m.topic()) for m in run["records"])
    # Events are keyed by article id (= the input key here), dead letters by the input key.
    want = sorted(
        (key, settings.enriched_topic if kind == "event" else settings.dlq_topic) for key, kind in run["inputs"].items()
    )
    assert got == want


def test_outputs_are_compressed_as_set_and_readable_by_aiokafka(run):
    settings = run["settings"]
    assert run["codecs"][settings.input_topic] == set(CODEC_IDS.values())  # the broker kept each codec
    assert run["codecs"][settings.enriched_topic] == {CODEC_IDS["zstd"]}
    assert run["codecs"][settings.dlq_topic] == {CODEC_IDS["zstd"]}
    assert sorted(r.key.decode() for r in run["aiokafka_records"]) == sorted(run["inputs"])
    assert all(r.json is not None for r in run["aiokafka_records"])


def test_outputs_parse_against_the_schemas_and_carry_input_coordinates(run, schema_validator):
    settings = run["settings"]
    for message in run["records"]:
        record = json.loads(message.value())
        name = "enriched.v1" if message.topic() == settings.enriched_topic else "deadletter.v1"
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema_validator(name).iter_errors(record)]
        assert not errors, (message.key(), errors)
        coordinates = record["input"]
        assert coordinates["topic"] == settings.input_topic
        assert coordinates["partition"] in (0, 1) and coordinates["offset"] >= 0
    coordinates = [tuple(json.loads(m.value())["input"].values()) for m in run["records"]]
    assert len(set(coordinates)) == len(coordinates), "two outputs claim the same input message"


def test_input_headers_are_copied_and_unspun_adds_its_own(run):
    settings = run["settings"]
    for message in run["records"]:
        key = message.key().decode()
        headers = message.headers()
        names = [name for name, _ in headers]
        assert headers[:2] == _headers(key), headers
        assert dict(headers)["content-type"] == b"application/json"
        record = json.loads(message.value())
        assert dict(headers)["unspun-schema"] == record["schema"].encode()
        assert names.count("content-type") == 1
        if message.topic() == settings.enriched_topic:
            assert not [n for n in names if n.startswith("__connect.")]


def test_dead_letters_carry_kafka_connect_error_headers(run):
    settings = run["settings"]
    dead = [m for m in run["records"] if m.topic() == settings.dlq_topic]
    assert len(dead) == 2 * len(CODECS)
    for message in dead:
        headers = {name: value.decode() for name, value in message.headers()}
        record = json.loads(message.value())
        assert [name for name in CONNECT_HEADERS if name not in headers] == []
        assert headers["__connect.errors.topic"] == settings.input_topic == record["topic"]
        assert int(headers["__connect.errors.partition"]) == record["partition"] == record["input"]["partition"]
        assert int(headers["__connect.errors.offset"]) == record["offset"] == record["input"]["offset"]
        assert headers["__connect.errors.connector.name"] == settings.app_id
        assert headers["__connect.errors.stage"] == "VALUE_CONVERTER"
        assert headers["__connect.errors.exception.message"] == record["reason"]
        assert headers["__connect.errors.exception.class.name"]
        assert headers["unspun-dead-letter-kind"] == record["kind"]
        assert record["kind"] in ("not_json", "not_object"), record


def test_latency_skips_missing_timestamps_and_reaches_past_30_s(run):
    text = run["metrics"]
    timed = sum(1 for key in run["inputs"] if not key.startswith("aio-nots-"))
    assert _metric(text, "unspun_missing_timestamp_total") == 2
    assert _metric(text, "unspun_end_to_end_latency_seconds_count") == timed
    # Only the old message is past 120 s, and it is within 300 s: a bucket, not +Inf.
    assert _metric(text, 'unspun_end_to_end_latency_seconds_bucket{le="120.0"}') == timed - 1
    assert _metric(text, 'unspun_end_to_end_latency_seconds_bucket{le="300.0"}') == timed
    # The sum holds that message's ~200 s, not the ~1.8e9 s of a timestamp of 0 or -1.
    assert OLD_S <= _metric(text, "unspun_end_to_end_latency_seconds_sum") < OLD_S + 60


def test_output_compression_setting_is_validated(kit):
    from pydantic import ValidationError

    assert kit.settings_for({"UNSPUN_OUTPUT_COMPRESSION": "lz4"}).output_compression == "lz4"
    with pytest.raises(ValidationError, match="output_compression"):
        kit.settings_for({"UNSPUN_OUTPUT_COMPRESSION": "brotli"})


def test_a_revoked_partition_lag_series_is_dropped(run, kit, start_worker):
    """Last: a second worker joins the group, takes one of the two partitions, and the first
    worker's /metrics then shows the lag of the partition it kept only."""
    first = run["worker"]
    lag = re.compile(r'^unspun_consumer_lag\{partition="(\d+)",topic="([^"]+)"\}', re.M)

    def partitions(port):
        _, text = kit.http_get(port, "/metrics")
        return {int(p) for p, t in lag.findall(text) if t == run["settings"].input_topic}

    deadline = time.monotonic() + 30
    while partitions(first.metrics_port) != {0, 1} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert partitions(first.metrics_port) == {0, 1}
    second = start_worker(first.env)
    second.wait_ready(timeout_s=90)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mine, theirs = partitions(first.metrics_port), partitions(second.metrics_port)
        if len(mine) == 1 and len(theirs) == 1:
            break
        time.sleep(0.2)
    assert len(mine) == 1 and len(theirs) == 1 and mine != theirs, (mine, theirs)
