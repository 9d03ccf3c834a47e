"""Plain Kafka clients (aiokafka) for what is not the Faust worker: topic creation,
``unspun produce`` and ``unspun tail``.

Connection settings (bootstrap servers, TLS, SASL) come from :class:`workers.settings.Settings`
and are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from workers.settings import Settings, broker_hosts

__all__ = [
    "NotKafkaBroker",
    "bootstrap_servers",
    "check_answers_as_kafka",
    "client_kwargs",
    "describe_error",
    "ensure_topics",
    "faust_broker_urls",
    "iter_messages",
    "send_messages",
    "ssl_context",
]

log = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> str:
    """``"Class: message"`` of a client error, naming the class once (aiokafka's messages already
    start with it: ``KafkaConnectionError: Unable to bootstrap ...``)."""
    name, text = type(exc).__name__, str(exc)
    return text if text.startswith(name) else f"{name}: {text}" if text else name


def bootstrap_servers(broker: str) -> list[str]:
    """``"kafka://a:9092,b:9092"`` (or ``"a:9092;b:9092"``) -> ``["a:9092", "b:9092"]``.

    Raises:
        ValueError: when ``broker`` is empty or malformed (see :func:`workers.settings.broker_hosts`).
    """
    if not broker.strip():
        raise ValueError("No Kafka broker configured (KAFKA_BROKER / UNSPUN_BROKER is empty).")
    return broker_hosts(broker)


def faust_broker_urls(broker: str) -> list[str]:
    """Broker setting -> Faust broker URLs, e.g. ``["kafka://127.0.0.1:9092"]``."""
    return [f"kafka://{host}" for host in bootstrap_servers(broker)]


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context for ``SSL``/``SASL_SSL`` protocols (CA file from ``UNSPUN_SSL_CAFILE``), else None."""
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    return ssl.create_default_context(cafile=settings.ssl_cafile or None)


def client_kwargs(settings: Settings, broker: str | None = None) -> dict[str, Any]:
    """Keyword arguments shared by aiokafka producers, consumers and admin clients.

    Args:
        settings: connection settings (security protocol, SASL user and password, CA file).
        broker: broker URL overriding ``settings.broker``.
    """
    kwargs: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(broker or settings.broker),
        "security_protocol": settings.security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password
    return kwargs


async def ensure_topics(settings: Settings, broker: str | None = None, timeout_s: float = 30.0) -> list[str]:
    """Create the input, enriched and dead-letter topics when missing (and, with linking on, the
    fingerprints topic with the window as retention, the links topic and the compacted learned topic).

    Partition count and replication factor come from ``settings``. Existing topics are left as
    they are. Returns the names that were created. Raises aiokafka errors when the broker
    cannot be reached within ``timeout_s`` seconds.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: PLC0415
    from aiokafka.errors import TopicAlreadyExistsError  # noqa: PLC0415

    wanted = [settings.input_topic, settings.enriched_topic, settings.dlq_topic]
    configs: dict[str, dict[str, str]] = {}
    if settings.linking:
        wanted += [settings.fingerprints_topic, settings.links_topic, settings.learned_topic]
        configs[settings.fingerprints_topic] = {"retention.ms": str(int(settings.linking_window_s * 1000))}
        configs[settings.learned_topic] = {"cleanup.policy": "compact"}
    admin = AIOKafkaAdminClient(request_timeout_ms=int(timeout_s * 1000), **client_kwargs(settings, broker))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(wanted) if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t, settings.partitions, settings.replication_factor, topic_configs=configs.get(t)) for t in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile
        return missing
    finally:
        await _close_quietly(admin.close)


#: How long :func:`check_answers_as_kafka` waits for a connection and for the answer, seconds.
PROBE_TIMEOUT_S = 3.0
#: Correlation id of the probe's request: a Kafka broker echoes it at the start of its answer.
_PROBE_CORRELATION_ID = 0x756E7370
#: Longest answer to ApiVersions taken for a Kafka one, bytes (brokers send well under 4 KiB).
_PROBE_MAX_ANSWER = 1 << 20
#: The probe's client id. Its line breaks end the "request line" and headers a line-based server
#: (HTTP, SMTP, Redis) waits for, so such a server answers at once instead of saying nothing.
_PROBE_CLIENT_ID = "unspun-probe\r\n\r\n"


class NotKafkaBroker(ValueError):
    """A bootstrap server accepts connections but does not answer as a Kafka broker."""


async def check_answers_as_kafka(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Send each bootstrap server of ``settings.broker`` the request every Kafka client opens with
    (ApiVersions, before any authentication) and check that the answer is a Kafka frame echoing
    its correlation id, so a port that serves something else (an HTTP server, say) is named at
    once instead of after the client's whole timeout.

    A server that refuses the connection, fails the TLS handshake or says nothing within
    ``timeout_s`` seconds passes: the clients report that themselves (and the worker waits).

    Raises:
        NotKafkaBroker: a server answered with something else; the message names its address.
    """
    from aiokafka.protocol.admin import ApiVersionRequest_v0  # noqa: PLC0415

    request = ApiVersionRequest_v0()
    body = request.build_request_header(correlation_id=_PROBE_CORRELATION_ID, client_id=_PROBE_CLIENT_ID).encode() + request.encode()
    for address in bootstrap_servers(settings.broker):
        host, port = address.rsplit(":", 1)
        answer = await _first_answer(host.strip("[]"), int(port), ssl_context(settings), struct.pack(">i", len(body)) + body, timeout_s)
        if answer and not _is_kafka_answer(answer):
            start = answer[:60].decode("latin-1").splitlines()[0] if answer[:1].isascii() else answer[:16].hex(" ")
            raise NotKafkaBroker(
                f"{address} did not answer as a Kafka broker (its answer began {start!r}); check --broker or KAFKA_BROKER"
            )


async def _first_answer(host: str, port: int, context: ssl.SSLContext | None, request: bytes, timeout_s: float) -> bytes:
    """Bytes the server sent back to ``request`` (one frame at most; empty when it could not be
    reached, closed the connection or said nothing within ``timeout_s`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout_s)
    except (OSError, asyncio.TimeoutError):
        return b""
    answer = b""
    try:
        writer.write(request)
        while True:
            size = struct.unpack(">i", answer[:4])[0] if len(answer) >= 4 else 0
            if len(answer) >= 4 and (len(answer) >= 4 + size or not 0 < size <= _PROBE_MAX_ANSWER):
                return answer
            chunk = await asyncio.wait_for(reader.read(65536), max(0.0, deadline - loop.time()))
            if not chunk:
                return answer
            answer += chunk
    except (OSError, asyncio.TimeoutError):
        return answer
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, asyncio.TimeoutError):
            pass


def _is_kafka_answer(answer: bytes) -> bool:
    """True when ``answer`` is one whole Kafka response frame to the probe (size, then its correlation id)."""
    if len(answer) < 8:
        return False
    size, correlation_id = struct.unpack(">ii", answer[:8])
    return 4 <= size <= _PROBE_MAX_ANSWER and len(answer) >= 4 + size and correlation_id == _PROBE_CORRELATION_ID


async def _close_quietly(close: Any) -> None:
    """Close a client on every path (also after a failed or timed-out start), never masking the
    error that got us here."""
    try:
        await close()
    except Exception as exc:  # noqa: BLE001
        log.debug("closing a Kafka client failed: %r", exc)


async def _started(client: Any) -> Any:
    """``client.start()``; on failure the client is stopped (no "Unclosed" warning) and the error raised."""
    try:
        await client.start()
    except BaseException:
        await _close_quietly(client.stop)
        raise
    return client


async def send_messages(
    settings: Settings,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None]],
    broker: str | None = None,
    max_request_size: int = 1_048_576,
) -> int:
    """Send ``(key, value)`` pairs to ``topic`` in order and wait until all are acknowledged.

    Returns the number of messages sent. Raises aiokafka errors (for example
    ``KafkaConnectionError``) when the broker is unreachable or a send fails.
    """
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415

    producer = AIOKafkaProducer(
        acks="all", linger_ms=5, max_request_size=max_request_size, **client_kwargs(settings, broker)
    )
    await _started(producer)
    try:
        futures = [await producer.send(topic, value=value, key=key) for key, value in messages]
        for future in futures:
            await future
        return len(futures)
    finally:
        await producer.stop()


async def iter_messages(
    settings: Settings,
    topic: str,
    *,
    broker: str | None = None,
    from_beginning: bool = False,
    max_messages: int | None = None,
    idle_timeout_s: float | None = None,
) -> AsyncIterator[Any]:
    """Yield aiokafka ``ConsumerRecord`` objects of ``topic`` (all partitions, no consumer group).

    Args:
        from_beginning: start at the earliest offset; otherwise only new messages.
        max_messages: stop after this many records.
        idle_timeout_s: stop when no record arrives for this many seconds (None: wait forever).
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **client_kwargs(settings, broker),
    )
    await _started(consumer)
    try:
        deadline_wait = idle_timeout_s
        partitions = None
        t0 = time.monotonic()
        while partitions is None:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - topic may be new
                partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                if idle_timeout_s is not None and time.monotonic() - t0 > idle_timeout_s:
                    return
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        count = 0
        while max_messages is None or count < max_messages:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            records = sorted(
                (r for rs in batch.values() for r in rs), key=lambda r: (r.timestamp, r.partition, r.offset)
            )
            if not records:
                if deadline_wait is not None and time.monotonic() - t0 > deadline_wait:
                    return
                continue
            t0 = time.monotonic()
            for record in records:
                yield record
                count += 1
                if max_messages is not None and count >= max_messages:
                    return
    finally:
        await consumer.stop()
