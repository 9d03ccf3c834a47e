"""The stream agent and the batch logic it delegates to.

The agent is a short loop: take a batch of events from the input topic, run
:func:`process_batch` off the event loop (decoding, validation, restoration and NER are
CPU-bound), then send the outputs in input order and record metrics. :func:`process_batch`
is a plain function, testable without a broker.

Guarantees:

* every consumed message yields exactly one output: an enriched event on the enriched topic
  (key = article id) or a dead-letter record on the dead-letter topic (key = input key);
* outputs are sent in the order of the input messages, so the order per input partition is
  kept; each batch's sends are acknowledged by the broker before its offsets may be committed,
  so delivery is at-least-once (a crash between send and commit re-delivers, never loses; a
  batch whose sends fail is never committed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workers.articles import Rejected, decode_article
from workers.settings import Settings
from workers.stream import metrics
from workers.stream.deadletter import Output, build_dead_letter, dead_letter_output, encode_output
from workers.stream.headers import output_headers

if TYPE_CHECKING:  # pragma: no cover
    import faust

    from workers.stream.app import WorkerState

__all__ = ["InMessage", "Produced", "SendTimeout", "process_batch", "register_agents"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InMessage:
    """One consumed Kafka message: where it came from, its key and value (bytes), its Kafka
    timestamp in seconds since the epoch (None when there is none: a producer that sets no
    timestamp leaves -1 or 0) and its headers as ``(name, value)`` pairs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass
class Produced:
    """An :class:`Output` paired with the input it answers, and the linking records its event adds
    (``extras``, see ``workers.stream.linking``; empty with linking off)."""

    message: InMessage
    output: Output
    extras: list = field(default_factory=list)


def _rejected_output(
    message: InMessage, rejected: Rejected, versions: dict[str, str] | None, max_message_bytes: int
) -> Output:
    record = build_dead_letter(
        message.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        kind=rejected.kind,
        reason=rejected.reason,
        article_id=getattr(rejected, "article_id", None),
        error_class=getattr(rejected, "error_class", None),
        versions=versions,
        max_message_bytes=max_message_bytes,
    )
    return dead_letter_output(record, message.key)


def _encode_or_dead_letter(
    message: InMessage, event: dict[str, Any], versions: dict[str, str], max_message_bytes: int
) -> Output:
    """The event encoded for sending; an event that cannot be encoded (orjson refuses it: nesting
    too deep, a value it cannot represent...) becomes a ``processing_error`` dead letter for this
    message alone."""
    try:
        return encode_output(
            event,
            raw=message.value,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            max_message_bytes=max_message_bytes,
        )
    except Exception as exc:  # noqa: BLE001 - one unencodable event must not fail the batch
        log.warning(
            "cannot encode the event of %s[%d]@%d: %s: %s",
            message.topic, message.partition, message.offset, type(exc).__name__, exc,
        )
        rejected = Rejected(
            "processing_error",
            f"the enriched event could not be encoded as JSON: {type(exc).__name__}: {exc}",
            str(event.get("id")) if event.get("id") is not None else None,
            type(exc).__name__,
        )
        return _rejected_output(message, rejected, versions, max_message_bytes)


def process_batch(
    messages: Sequence[InMessage],
    enricher: Any,
    settings: Settings,
    *,
    decode: Callable[[bytes | None, Settings], dict[str, Any]] = decode_article,
    max_message_bytes: int = 1_000_000,
    received_at: float | None = None,
    linker: Any = None,
) -> list[Produced]:
    """Turn a batch of consumed messages into exactly one output each, in input order.

    Steps: decode and validate each value (``decode``; ``Rejected`` -> dead letter), enrich the
    valid articles together (``enricher.enrich_many``; a ``Rejected`` result -> dead letter),
    encode each event (too big for ``max_message_bytes`` -> ``too_large`` dead letter; not
    encodable -> ``processing_error`` dead letter for that message only).
    Records ``unspun_stage_duration_seconds`` for decode; the per-event metrics (restore and ner
    durations, edits, spin score) are recorded by :func:`send_outputs` once an event is actually
    sent, so an event replaced by a dead letter is not counted. Never raises for a bad message: an unexpected exception
    becomes a ``processing_error`` dead letter for the messages it concerns.

    Args:
        messages: the batch, in consumption order.
        enricher: object with ``enrich_many(articles, received_at=...) -> list[dict | Rejected]``
            and ``versions`` (dict of version strings).
        settings: worker settings (passed to ``decode``).
        received_at: when the batch was taken from the stream, seconds since the epoch.
        linker: a ``workers.stream.linking.Linker`` (linking on) or None: links the decoded articles
            to earlier ones before enrichment and gives each event its linking records.

    Returns:
        One :class:`Produced` per message, same order.
    """
    received = time.time() if received_at is None else received_at
    versions = dict(getattr(enricher, "versions", None) or {})
    outputs: list[Output | None] = [None] * len(messages)
    articles: list[dict[str, Any]] = []
    article_index: list[int] = []
    decode_ms: list[float] = []
    for i, message in enumerate(messages):
        t0 = time.perf_counter()
        try:
            article = decode(message.value, settings)
        except Rejected as rejected:
            outputs[i] = _rejected_output(message, rejected, versions, max_message_bytes)
        except Exception as exc:  # noqa: BLE001 - a decoder bug must not lose the message
            log.exception("decoding failed at %s[%d]@%d", message.topic, message.partition, message.offset)
            outputs[i] = _rejected_output(
                message,
                Rejected("processing_error", f"decoding failed: {type(exc).__name__}: {exc}", None, type(exc).__name__),
                versions,
                max_message_bytes,
            )
        else:
            articles.append(article)
            article_index.append(i)
            decode_ms.append((time.perf_counter() - t0) * 1000)
        metrics.STAGE_DURATION.labels(stage="decode").observe(time.perf_counter() - t0)

    fingerprints: list[Any] = []
    extras: dict[int, list[Any]] = {}
    if articles and linker is not None:
        try:
            fingerprints = linker.link_batch(articles)
        except Exception:  # noqa: BLE001 - linking is an extra; the articles are still enriched
            log.exception("linking failed for a batch of %d articles; enriching them unlinked", len(articles))
            for article in articles:
                article.pop("_link", None)
            fingerprints = []
    if articles:
        try:
            results = list(enricher.enrich_many(articles, received_at=[received] * len(articles)))
        except Exception as exc:  # noqa: BLE001 - contract says it never raises; be safe anyway
            log.exception("enrich_many raised for a batch of %d articles", len(articles))
            results = [
                Rejected("processing_error", f"enrichment failed: {type(exc).__name__}: {exc}", a.get("id"), type(exc).__name__)
                for a in articles
            ]
        if len(results) != len(articles):
            log.error("enrich_many returned %d results for %d articles", len(results), len(articles))
            results = (results + [None] * len(articles))[: len(articles)]
        for j, (index, result) in enumerate(zip(article_index, results)):
            message = messages[index]
            if isinstance(result, Rejected):
                outputs[index] = _rejected_output(message, result, versions, max_message_bytes)
            elif not isinstance(result, dict):
                outputs[index] = _rejected_output(
                    message,
                    Rejected("processing_error", "the enricher returned no result for this article", articles[j].get("id")),
                    versions,
                    max_message_bytes,
                )
            else:
                result.setdefault("latency_ms", {})["decode"] = round(decode_ms[j], 3)
                if fingerprints:
                    extras[index] = linker.extras(result, fingerprints[j])
                outputs[index] = _encode_or_dead_letter(message, result, versions, max_message_bytes)
                if outputs[index].kind != "event":  # type: ignore[union-attr]
                    extras.pop(index, None)
    return [Produced(m, o, extras.get(i, [])) for i, (m, o) in enumerate(zip(messages, outputs))]  # type: ignore[arg-type]


def _from_event(event: Any) -> InMessage:
    message = event.message
    ts = getattr(message, "timestamp", None)
    return InMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        timestamp=float(ts) if ts is not None and ts > 0 else None,
        headers=tuple(getattr(message, "headers", None) or ()),
    )


class SendTimeout(RuntimeError):
    """Outputs of a batch were not all acknowledged within ``UNSPUN_PRODUCER_REQUEST_TIMEOUT_S``."""


def _retrieve_later(future: "asyncio.Future[Any]") -> None:
    """Done-callback of an abandoned send: fetch its error, so it is not logged as never retrieved."""
    if not future.cancelled():
        future.exception()


async def send_outputs(state: "WorkerState", produced: Sequence[Produced]) -> None:
    """Send outputs in order, wait for every acknowledgement, then record the metrics of what
    was sent: produce time, end-to-end latency (a message without a timestamp is counted in
    ``unspun_missing_timestamp_total`` instead), events (with their restore/ner time, edits and
    spin score) and dead letters by kind (``too_large`` included).

    Enriched events go to the enriched topic, dead letters to the dead-letter topic, each with
    the input's headers and unspun's own (:func:`workers.stream.headers.output_headers`). Raises the
    producer's error when a send fails, and :class:`SendTimeout` when the outputs are not all
    acknowledged within ``UNSPUN_PRODUCER_REQUEST_TIMEOUT_S`` seconds of the first send (the batch
    is then not acknowledged and is re-delivered). The client's own request timeout is not enough:
    with the broker unreachable it spends that timeout on each reconnection and metadata request,
    one topic after the other (a 5 s setting took 20 to 31 s per attempt).
    """
    started = time.perf_counter()
    timeout_s = state.settings.producer_request_timeout_s
    deadline = time.monotonic() + timeout_s
    pending = []
    extras = []  # (linking record, its position in pending)

    async def enqueue() -> None:
        for item in produced:
            out = item.output
            dead_letter = out.kind != "event"
            topic = state.dlq_topic if dead_letter else state.enriched_topic
            headers = output_headers(
                item.message.headers, out.record, dead_letter=dead_letter, connector=state.settings.app_id
            )
            pending.append(await topic.send(key=out.key, value=out.value, headers=headers))
            for extra in item.extras:
                extras.append((extra, len(pending)))
                pending.append(await state.linking_topics[extra.topic].send(key=extra.key, value=extra.value))

    try:
        await asyncio.wait_for(enqueue(), timeout_s)
    except asyncio.TimeoutError:
        for future in pending:
            future.add_done_callback(_retrieve_later)
        raise SendTimeout(
            f"only {len(pending)} of {len(produced)} outputs could be queued for sending within {timeout_s:g} s "
            "(UNSPUN_PRODUCER_REQUEST_TIMEOUT_S)"
        ) from None
    # Wait for every acknowledgement until the deadline; an abandoned send keeps running in the
    # client (the batch is sent again, at-least-once), its error is retrieved when it ends.
    done, not_done = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic())) if pending else (set(), set())
    for future in not_done:
        future.add_done_callback(_retrieve_later)
    errors = [f.exception() for f in pending if f in done and not f.cancelled() and f.exception() is not None]
    if errors:
        raise errors[0]
    if not_done:
        raise SendTimeout(
            f"{len(not_done)} of {len(pending)} outputs not acknowledged within {timeout_s:g} s "
            "(UNSPUN_PRODUCER_REQUEST_TIMEOUT_S)"
        )
    for extra, position in extras:  # acknowledged: index the fingerprints this worker sent
        metadata = pending[position].result()
        state.linker.sent(extra, metadata.partition, metadata.offset)
    sent_at = time.time()
    per_message = (time.perf_counter() - started) / max(1, len(produced))
    for item in produced:
        metrics.STAGE_DURATION.labels(stage="produce").observe(per_message)
        if item.output.kind == "event":
            metrics.EMITTED.inc()
            metrics.observe_event(item.output.record)
        else:
            metrics.observe_dead_letter(item.output.dead_letter_kind or "processing_error")
        if item.message.timestamp is None:
            metrics.MISSING_TIMESTAMP.inc()
        else:
            metrics.END_TO_END.observe(max(0.0, sent_at - item.message.timestamp))


def register_agents(app: "faust.App", state: "WorkerState") -> None:
    """Register the enrichment agent on ``app`` (reads ``state.input_topic``)."""
    settings = state.settings

    @app.agent(state.input_topic, name="unspun.enrich")
    async def enrich(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_timeout_s):
            # take_events acks the batch when the loop moves on, even after an exception or a
            # cancellation. Hold one extra reference per message and release it only once the
            # outputs are acknowledged by the broker, so a failed batch is never committed.
            for event in events:
                event.message.incref()
            try:
                await handle_batch(state, [_from_event(e) for e in events])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - outputs not sent after every retry
                # Continuing would stall the partition for good (this batch can never be
                # committed) while the worker looks healthy: stop it with a clear error instead,
                # so it is restarted and the uncommitted batch is delivered again.
                log.critical(
                    "a batch of %d messages could not be completed (%s: %s); stopping the worker so it "
                    "restarts and the batch is delivered again",
                    len(events), type(exc).__name__, exc,
                )
                await state.fail(exc)
                await asyncio.Event().wait()  # hold the batch unacknowledged until the worker stops
            for event in events:
                event.message.ack(app.consumer)


async def handle_batch(state: "WorkerState", messages: list[InMessage]) -> None:
    """Process one batch off the loop and send its outputs (see the module docstring)."""
    if not messages:
        return
    received = time.time()
    for message in messages:
        metrics.CONSUMED.labels(topic=message.topic).inc()
    metrics.BATCH_SIZE.observe(len(messages))
    enricher = await state.wait_enricher()
    if state.linker is not None:
        await state.linker.wait_caught_up()
    loop = asyncio.get_running_loop()
    produced = await loop.run_in_executor(
        state.executor,
        lambda: process_batch(
            messages,
            enricher,
            state.settings,
            max_message_bytes=state.max_message_bytes,
            received_at=received,
            linker=state.linker,
        ),
    )
    await send_with_retries(state, produced, attempts=state.settings.send_attempts)
    state.note_processed(messages)


async def send_with_retries(
    state: "WorkerState", produced: Sequence[Produced], attempts: int = 5, first_backoff_s: float = 0.5
) -> None:
    """:func:`send_outputs`, retried with exponential backoff (0.5, 1, 2, 4 s) on producer errors.

    A retry may send some outputs twice (at-least-once). Raises the last error after
    ``attempts`` tries (``UNSPUN_SEND_ATTEMPTS``); the agent then stops the worker, the batch stays
    uncommitted and is re-delivered after the restart.
    """
    delay = first_backoff_s
    for attempt in range(1, attempts + 1):
        try:
            await send_outputs(state, produced)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any producer error
            if attempt == attempts:
                log.error("giving up sending a batch of %d outputs after %d attempts: %r", len(produced), attempts, exc)
                raise
            log.warning("sending a batch of %d outputs failed (%r); retry %d in %.1f s", len(produced), exc, attempt, delay)
            await asyncio.sleep(delay)
            delay *= 2
