"""Dead-letter policy: what a message that cannot become an enriched event turns into.

Every consumed message yields exactly one output. When it cannot be an enriched event
(``workers.articles.Rejected`` from decoding, or from the Enricher), it becomes a dead-letter
record (schema ``schemas/deadletter.v1.json``) on the dead-letter topic, carrying the raw
message value so nothing is lost:

* ``payload_encoding="utf-8"``: the value was valid UTF-8 and is stored as text;
* ``payload_encoding="base64"``: the value was not UTF-8, or it had to be cut (then
  ``payload_truncated`` is true).

The payload is kept whole whenever the record fits the largest message the producer sends
(``UNSPUN_MAX_MESSAGE_BYTES``, less room for the key and framing); only a record that would not
fit has its payload cut to what does, and is flagged ``payload_truncated``.

An enriched event whose encoded size would exceed the broker's maximum message size is not
sent; a small ``too_large`` record takes its place (see :func:`encode_output`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from workers import __version__
from workers.timestamps import utc_iso

__all__ = [
    "DEADLETTER_SCHEMA",
    "MAX_REASON_CHARS",
    "Output",
    "build_dead_letter",
    "encode_key",
    "encode_output",
    "input_coordinates",
]

DEADLETTER_SCHEMA = "unspun.deadletter.v1"
#: Longer ``reason`` texts (exception messages can be huge) are cut to this many characters.
MAX_REASON_CHARS = 4000
#: Bytes reserved for the record's key, headers and batch framing when checking sizes.
_FRAME_OVERHEAD = 1024


@dataclass(frozen=True)
class Output:
    """One message to send: ``kind`` is ``"event"`` or ``"dead_letter"``; ``key``/``value`` are bytes.

    ``dead_letter_kind`` is the record's ``kind`` for dead letters, else None; ``record`` is the
    dict that was encoded into ``value``.
    """

    kind: str
    key: bytes | None
    value: bytes
    record: dict[str, Any]
    dead_letter_kind: str | None = None


def encode_key(key: bytes | None) -> tuple[str | None, str | None]:
    """A message key for JSON: ``(text, "utf-8")``, ``(base64, "base64")`` or ``(None, None)``."""
    if key is None:
        return None, None
    try:
        return key.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(key).decode("ascii"), "base64"


def _payload(data: bytes, budget: int, limit: int | None) -> tuple[str, str, bool]:
    """``(payload, encoding, truncated)`` for ``data`` taking at most ``budget`` bytes once encoded
    as a JSON string (and at most ``limit`` raw bytes when given)."""
    if limit is None or len(data) <= limit:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            if 4 * ((len(data) + 2) // 3) + 2 <= budget:
                return base64.b64encode(data).decode("ascii"), "base64", False
        else:
            # JSON escaping can make the text longer than its bytes: measure it.
            if len(data) + 2 <= budget and len(orjson.dumps(text)) <= budget:
                return text, "utf-8", False
    cut = max(0, (budget - 2) // 4 * 3)
    if limit is not None:
        cut = min(cut, limit)
    return base64.b64encode(data[:cut]).decode("ascii"), "base64", True


def build_dead_letter(
    raw: bytes | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    kind: str,
    reason: str,
    article_id: str | None = None,
    error_class: str | None = None,
    versions: Mapping[str, str] | None = None,
    max_message_bytes: int = 1_000_000,
    payload_limit: int | None = None,
    failed_at: str | None = None,
) -> dict[str, Any]:
    """Build a dead-letter record (a dict valid against ``deadletter.v1``).

    Args:
        raw: the consumed message value (None for a tombstone; stored as an empty payload).
        topic, partition, offset: where the message came from (also kept together as ``input``).
        key: the message key as bytes, or None (it is sent with the record: counted in its size).
        kind: one of the ``kind`` values of the schema (see ``workers.articles.KINDS``).
        reason: human-readable explanation (cut to ``MAX_REASON_CHARS`` characters).
        article_id: the article id when it could be read.
        error_class: exception class name for ``processing_error``.
        versions: version strings to record; ``unspun`` is always included.
        max_message_bytes: the largest message the producer sends (``UNSPUN_MAX_MESSAGE_BYTES``):
            the payload is kept whole when the encoded record, its key and framing fit in it,
            else cut to fit, stored as base64 and flagged ``payload_truncated``.
        payload_limit: optional further cap on the raw bytes kept (None: only the size limit).
        failed_at: RFC 3339 timestamp; default now (UTC).

    Returns:
        The record as a dict; encode it with ``orjson.dumps``.
    """
    data = raw or b""
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + f"... ({len(reason)} characters in all)"
    key_text, key_encoding = encode_key(key)
    all_versions = {"unspun": __version__}
    if versions:
        all_versions.update({str(k): str(v) for k, v in versions.items()})
    record = {
        "schema": DEADLETTER_SCHEMA,
        "kind": kind,
        "reason": reason,
        "id": article_id,
        "topic": topic,
        "partition": int(partition),
        "offset": int(offset),
        "input": input_coordinates(topic, partition, offset),
        "key": key_text,
        "key_encoding": key_encoding,
        "payload_encoding": "utf-8",
        "payload": "",
        "payload_truncated": False,
        "error_class": error_class,
        "failed_at": failed_at or utc_iso(),
        "versions": all_versions,
    }
    # Room for the payload: the limit less the record without it, the key and the framing.
    # ("base64" is two bytes longer than "utf-8" in the record; count the longer one.)
    rest = len(_dumps(record)) + 2 + len(key or b"") + _FRAME_OVERHEAD
    payload, encoding, truncated = _payload(data, max(0, max_message_bytes - rest), payload_limit)
    record.update(payload=payload, payload_encoding=encoding, payload_truncated=truncated)
    return record


def input_coordinates(topic: str, partition: int, offset: int) -> dict[str, Any]:
    """``{"topic", "partition", "offset"}`` of the consumed message an output answers (the field
    ``input`` of enriched events and dead letters). A redelivery after a crash has the same
    coordinates as the first copy; two different articles that share an id have different ones."""
    return {"topic": topic, "partition": int(partition), "offset": int(offset)}


def _dumps(record: dict[str, Any]) -> bytes:
    """orjson encoding of a record; strings orjson refuses (lone surrogates) are made valid first."""
    try:
        return orjson.dumps(record)
    except TypeError:
        return orjson.dumps(_valid_utf8(record))


def _valid_utf8(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_valid_utf8(k): _valid_utf8(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_utf8(v) for v in value]
    return value


def dead_letter_output(record: dict[str, Any], key: bytes | None) -> Output:
    """Wrap a dead-letter record as an :class:`Output` (the key is the input message's key)."""
    return Output("dead_letter", key, _dumps(record), record, record["kind"])


def encode_output(
    event: dict[str, Any],
    *,
    raw: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    max_message_bytes: int,
) -> Output:
    """Encode an enriched event for sending, or replace it by a ``too_large`` dead letter.

    The event gets the input's coordinates (``input``, see :func:`input_coordinates`) and is
    keyed by its ``id`` (UTF-8). If the encoded event plus framing would exceed
    ``max_message_bytes`` (the broker's/producer's limit, bytes), the result is a dead-letter
    record of kind ``too_large`` holding the raw input (cut only if the record would not fit,
    flagged ``payload_truncated``) and the sizes in ``reason``.
    """
    event["input"] = input_coordinates(topic, partition, offset)
    value = orjson.dumps(event)
    out_key = str(event["id"]).encode("utf-8")
    if len(value) + len(out_key) + _FRAME_OVERHEAD <= max_message_bytes:
        return Output("event", out_key, value, event)
    record = build_dead_letter(
        raw,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        kind="too_large",
        reason=(
            f"the enriched event is {len(value)} bytes; the maximum message size is "
            f"{max_message_bytes} bytes (UNSPUN_MAX_MESSAGE_BYTES)"
        ),
        article_id=str(event["id"]),
        versions=event.get("versions"),
        max_message_bytes=max_message_bytes,
    )
    return dead_letter_output(record, key)
