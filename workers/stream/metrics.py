"""Prometheus metrics of the worker, on prometheus_client's default registry.

The names below are a contract: Prometheus alert rules and the Grafana dashboard under
``deploy/`` query them. Change a name or a label only together with those files.

=========================================  =========  ==========================================
name                                       type       meaning
=========================================  =========  ==========================================
unspun_messages_consumed_total{topic}      counter    messages taken from an input topic
unspun_events_emitted_total                counter    enriched events sent
unspun_dead_letters_total{kind}            counter    dead-letter records sent, by ``kind``
unspun_stage_duration_seconds{stage}       histogram  seconds per article in decode, restore,
                                                      ner, produce
unspun_end_to_end_latency_seconds          histogram  Kafka message timestamp -> output sent
unspun_missing_timestamp_total             counter    messages without a usable Kafka timestamp
                                                      (-1 or 0), left out of end-to-end latency
unspun_edits_total                         counter    edits applied to article texts
unspun_edits_per_article                   histogram  edits per enriched article
unspun_spin_score                          histogram  spin score per enriched article (0..1)
unspun_spinner_family_total{family}        counter    enriched articles by attributed spinner
                                                      family ("none" when none is likely)
unspun_consumer_lag{topic,partition}       gauge      messages between highwater and position
unspun_worker_ready                        gauge      1 when /ready answers 200, else 0
unspun_batch_size                          histogram  messages per processed batch
unspun_restorations_total{kind}            counter    edits applied, by kind (``source``, ``learned``,
                                                      table parts...)
unspun_links_total{order}                  counter    copies linked to their source:
                                                      ``copy_after_source`` (``copy_of`` in the
                                                      event), ``source_after_copy`` (links topic)
unspun_link_index_articles                 gauge      articles in this worker's link index
unspun_learned_pairs                       gauge      substitutions seen in enough linked articles
unspun_learned_pairs_in_use                gauge      of those, in the restorer's ``learned`` family
=========================================  =========  ==========================================

``process_*`` and ``python_*`` collectors of prometheus_client are registered by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

from workers.articles import KINDS

__all__ = [
    "BATCH_SIZE",
    "CONSUMED",
    "CONSUMER_LAG",
    "CONTENT_TYPE_LATEST",
    "DEAD_LETTERS",
    "DEAD_LETTER_KINDS",
    "EDITS",
    "EDITS_PER_ARTICLE",
    "EMITTED",
    "LEARNED_IN_USE",
    "LEARNED_PAIRS",
    "LINKS",
    "LINK_INDEX_ARTICLES",
    "RESTORATIONS",
    "END_TO_END",
    "SPIN_SCORE",
    "SPINNER_FAMILY",
    "STAGES",
    "STAGE_DURATION",
    "MISSING_TIMESTAMP",
    "WORKER_READY",
    "exposition",
    "init_labels",
    "observe_dead_letter",
    "observe_event",
]

#: Histogram buckets for latencies, seconds: 1 ms .. 600 s. Fine at the low end (a healthy worker
#: answers in milliseconds), and up to 10 minutes so that a backlog reads as its true age instead
#: of piling up in +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
    60.0, 120.0, 300.0, 600.0,
)
#: Stages timed per article (``unspun_stage_duration_seconds{stage}``).
STAGES: tuple[str, ...] = ("decode", "restore", "ner", "produce")
#: Dead-letter kinds, as in schemas/deadletter.v1.json.
DEAD_LETTER_KINDS: tuple[str, ...] = KINDS

CONSUMED = Counter(
    "unspun_messages_consumed_total", "Messages consumed from an input topic.", ["topic"]
)
EMITTED = Counter("unspun_events_emitted_total", "Enriched events sent to the enriched topic.")
DEAD_LETTERS = Counter(
    "unspun_dead_letters_total", "Dead-letter records sent, by error kind.", ["kind"]
)
STAGE_DURATION = Histogram(
    "unspun_stage_duration_seconds",
    "Time spent per article in a processing stage (decode, restore, ner, produce), seconds.",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
END_TO_END = Histogram(
    "unspun_end_to_end_latency_seconds",
    "From the Kafka timestamp of the input message to its output being sent, seconds.",
    buckets=LATENCY_BUCKETS,
)
MISSING_TIMESTAMP = Counter(
    "unspun_missing_timestamp_total",
    "Messages whose Kafka timestamp is not positive (-1 or 0: the producer set none), so they are "
    "left out of unspun_end_to_end_latency_seconds.",
)
EDITS = Counter("unspun_edits_total", "Edits applied to article texts (title edits included).")
EDITS_PER_ARTICLE = Histogram(
    "unspun_edits_per_article",
    "Edits applied per enriched article (title edits included).",
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144),
)
SPIN_SCORE = Histogram(
    "unspun_spin_score",
    "Spin score of enriched articles (0 = clean, 1 = certainly spun).",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
SPINNER_FAMILY = Counter(
    "unspun_spinner_family_total",
    "Enriched articles by the spinner family they are attributed to ('none' when no family is likely).",
    ["family"],
)
CONSUMER_LAG = Gauge(
    "unspun_consumer_lag",
    "Messages not yet consumed: partition highwater minus consumer position.",
    ["topic", "partition"],
)
WORKER_READY = Gauge("unspun_worker_ready", "1 when the worker is ready (models loaded, partitions assigned).")
BATCH_SIZE = Histogram(
    "unspun_batch_size",
    "Messages per processed batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)

RESTORATIONS = Counter("unspun_restorations_total", "Edits applied to article texts, by kind.", ["kind"])
LINKS = Counter("unspun_links_total", "Spun copies linked to their source, by which came first.", ["order"])
LINK_INDEX_ARTICLES = Gauge("unspun_link_index_articles", "Articles in this worker's link index.")
LEARNED_PAIRS = Gauge("unspun_learned_pairs", "Substitutions seen in at least UNSPUN_LEARN_MIN_ARTICLES linked articles.")
LEARNED_IN_USE = Gauge("unspun_learned_pairs_in_use", "Learned substitutions in the restorer's learned family.")


def init_labels(topics: Iterable[str]) -> None:
    """Create every known label combination at zero so queries return data before the first event.

    Args:
        topics: input topic names for ``unspun_messages_consumed_total{topic}``.
    """
    for topic in topics:
        CONSUMED.labels(topic=topic)
    for kind in DEAD_LETTER_KINDS:
        DEAD_LETTERS.labels(kind=kind)
    for stage in STAGES:
        STAGE_DURATION.labels(stage=stage)
    for order in ("copy_after_source", "source_after_copy"):
        LINKS.labels(order=order)


def observe_event(event: Mapping[str, Any]) -> None:
    """Record the per-article numbers of one enriched event, once it has been sent (an event
    replaced by a ``too_large`` or ``processing_error`` dead letter is not counted).

    Reads ``latency_ms.restore`` and ``latency_ms.ner`` (milliseconds, recorded as seconds),
    the number of ``edits`` plus ``title_edits``, ``spin_score`` and ``spinner.family``. Missing fields
    are skipped.
    """
    latency = event.get("latency_ms") or {}
    for stage in ("restore", "ner"):
        value = latency.get(stage)
        if isinstance(value, (int, float)) and value >= 0:
            STAGE_DURATION.labels(stage=stage).observe(value / 1000.0)
    n_edits = len(event.get("edits") or ()) + len(event.get("title_edits") or ())
    EDITS.inc(n_edits)
    for edit in [*(event.get("edits") or ()), *(event.get("title_edits") or ())]:
        RESTORATIONS.labels(kind=str(edit.get("kind"))).inc()
    if event.get("copy_of"):
        LINKS.labels(order="copy_after_source").inc()
    EDITS_PER_ARTICLE.observe(n_edits)
    score = event.get("spin_score")
    if isinstance(score, (int, float)):
        SPIN_SCORE.observe(float(score))
    spinner = event.get("spinner")
    if isinstance(spinner, Mapping):
        SPINNER_FAMILY.labels(family=str(spinner.get("family") or "none")).inc()


def observe_dead_letter(kind: str) -> None:
    """Count one dead-letter record of ``kind``."""
    DEAD_LETTERS.labels(kind=kind).inc()


def exposition() -> tuple[bytes, str]:
    """The default registry in the Prometheus text format: ``(body, content_type)``."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
