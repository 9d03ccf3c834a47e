"""Dead-letter policy: what a message that cannot become an enriched event turns into.

Every consumed message yields exactly one output. When it cannot be an enriched event
(``workers.articles.Rejected`` from decoding, or from the Enricher), it becomes a dead-letter
record (schema ``schemas/deadletter.v1.json``) on the dead-letter topic, carrying the raw
message value so nothing is lost:

* ``payload_encoding="utf-8"``: the value was valid UTF-8 and is stored as text;
* ``payload_encoding="base64"``: the value was not UTF-8, or it was cut to
  ``payload_limit`` bytes (then ``payload_truncated`` is true).

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

__all__ = [
    "DEADLETTER_SCHEMA",
    "DEFAULT_PAYLOAD_LIMIT",
    "Output",
    "build_dead_letter",
    "encode_key",
    "encode_output",
]

DEADLETTER_SCHEMA = "unspun.deadletter.v1"
#: Raw payloads longer than this many bytes are truncated in dead-letter records.
DEFAULT_PAYLOAD_LIMIT = 64 * 1024
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


def _utc_now_iso() -> str:
    from workers.pipeline import utc_iso  # noqa: PLC0415 - one timestamp format for all outputs

    return utc_iso()


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
    payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
    failed_at: str | None = None,
) -> dict[str, Any]:
    """Build a dead-letter record (a dict valid against ``deadletter.v1``).

    Args:
        raw: the consumed message value (None for a tombstone; stored as an empty payload).
        topic, partition, offset: where the message came from.
        key: the message key as bytes, or None.
        kind: one of the ``kind`` values of the schema (see ``workers.articles.KINDS``).
        reason: human-readable explanation.
        article_id: the article id when it could be read.
        error_class: exception class name for ``processing_error``.
        versions: version strings to record; ``unspun`` is always included.
        payload_limit: raw values longer than this many bytes are cut and stored as base64.
        failed_at: RFC 3339 timestamp; default now (UTC).

    Returns:
        The record as a dict; encode it with ``orjson.dumps``.
    """
    data = raw or b""
    truncated = len(data) > payload_limit
    if truncated:
        data = data[:payload_limit]
        payload, encoding = base64.b64encode(data).decode("ascii"), "base64"
    else:
        try:
            payload, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            payload, encoding = base64.b64encode(data).decode("ascii"), "base64"
    key_text, key_encoding = encode_key(key)
    all_versions = {"unspun": __version__}
    if versions:
        all_versions.update({str(k): str(v) for k, v in versions.items()})
    return {
        "schema": DEADLETTER_SCHEMA,
        "kind": kind,
        "reason": reason,
        "id": article_id,
        "topic": topic,
        "partition": int(partition),
        "offset": int(offset),
        "key": key_text,
        "key_encoding": key_encoding,
        "payload_encoding": encoding,
        "payload": payload,
        "payload_truncated": truncated,
        "error_class": error_class,
        "failed_at": failed_at or _utc_now_iso(),
        "versions": all_versions,
    }


def dead_letter_output(record: dict[str, Any], key: bytes | None) -> Output:
    """Wrap a dead-letter record as an :class:`Output` (the key is the input message's key)."""
    return Output("dead_letter", key, orjson.dumps(record), record, record["kind"])


def encode_output(
    event: dict[str, Any],
    *,
    raw: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    max_message_bytes: int,
    payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
) -> Output:
    """Encode an enriched event for sending, or replace it by a ``too_large`` dead letter.

    The event is keyed by its ``id`` (UTF-8). If the encoded event plus framing would exceed
    ``max_message_bytes`` (the broker's/producer's limit, bytes), the result is a dead-letter
    record of kind ``too_large`` holding the raw input (cut to ``payload_limit`` bytes, flagged
    ``payload_truncated``) and the sizes in ``reason``.
    """
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
        payload_limit=min(payload_limit, max(1024, max_message_bytes // 4)),
    )
    return dead_letter_output(record, key)
