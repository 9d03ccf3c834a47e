"""Kafka headers of what the worker sends.

Every enriched event and dead letter carries:

* the headers of the input message it answers, copied in order (W3C ``traceparent``,
  correlation ids...), except those named below, which unspun sets itself;
* ``content-type: application/json`` and ``unspun-schema`` (``unspun.enriched.v1`` or
  ``unspun.deadletter.v1``, the ``schema`` field of the record, named after ``schemas/``);
* dead letters only: Kafka Connect's dead-letter context headers (names as in Kafka Connect's
  ``DeadLetterQueueReporter``, values UTF-8 text): ``__connect.errors.topic``, ``.partition``,
  ``.offset`` of the input, ``.connector.name`` (the consumer group), ``.stage``,
  ``.exception.class.name`` and ``.exception.message`` (the record's ``reason``), and
  ``unspun-dead-letter-kind``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CONNECT_PREFIX", "CONTENT_TYPE", "SCHEMA_HEADER", "output_headers"]

CONTENT_TYPE = b"application/json"
SCHEMA_HEADER = "unspun-schema"
CONNECT_PREFIX = "__connect.errors."
_KIND_HEADER = "unspun-dead-letter-kind"
#: Dead-letter kinds found while decoding a value; the others happen while enriching it, but for
#: ``too_large``, which is the output that could not be produced. Connect's names for these stages.
_DECODE_KINDS = frozenset(
    {"not_json", "not_object", "invalid_utf8", "schema_violation", "empty_text", "too_long", "control_chars", "html"}
)
#: Exception class recorded for a rejection that carries no exception of its own.
_REJECTED_CLASS = "workers.articles.Rejected"


def _stage(kind: str) -> str:
    if kind in _DECODE_KINDS:
        return "VALUE_CONVERTER"
    return "KAFKA_PRODUCE" if kind == "too_large" else "TASK_PUT"


def _connect_headers(record: Mapping[str, Any], connector: str) -> list[tuple[str, bytes]]:
    fields = {
        "topic": record["topic"],
        "partition": record["partition"],
        "offset": record["offset"],
        "connector.name": connector,
        "stage": _stage(record["kind"]),
        "exception.class.name": record.get("error_class") or _REJECTED_CLASS,
        "exception.message": record["reason"],
    }
    headers = [(CONNECT_PREFIX + name, str(value).encode("utf-8", "replace")) for name, value in fields.items()]
    headers.append((_KIND_HEADER, str(record["kind"]).encode()))
    return headers


def output_headers(
    input_headers: Iterable[tuple[str, bytes | None]] | None,
    record: Mapping[str, Any],
    *,
    dead_letter: bool,
    connector: str,
) -> list[tuple[str, bytes | None]]:
    """Headers for one output: ``[(name, value bytes or None), ...]`` (see the module docstring).

    Args:
        input_headers: the consumed message's headers as ``(name, value)`` pairs (None: none).
        record: the event or dead-letter dict that is sent (``schema``; for dead letters also
            ``topic``, ``partition``, ``offset``, ``kind``, ``reason``, ``error_class``).
        dead_letter: add the Kafka Connect dead-letter headers.
        connector: the name given as ``__connect.errors.connector.name`` (the consumer group).
    """
    own = [("content-type", CONTENT_TYPE), (SCHEMA_HEADER, str(record["schema"]).encode())]
    if dead_letter:
        own += _connect_headers(record, connector)
    names = {name.lower() for name, _ in own}
    copied = [
        (name, value)
        for name, value in (input_headers or ())
        if name.lower() not in names and not name.startswith(CONNECT_PREFIX)
    ]
    return copied + own
