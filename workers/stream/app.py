"""The Faust app, its topics and its side services, built from :class:`Settings`.

:func:`create_app` is the only way the worker is built; :func:`run_worker` runs it (``unspun
worker``). Besides the agent, a worker runs:

* an HTTP server on ``UNSPUN_METRICS_HOST:UNSPUN_METRICS_PORT`` serving ``/metrics``,
  ``/health`` and ``/ready`` (:mod:`workers.stream.http`);
* a model loader that starts the enrichment child process (:mod:`workers.stream.isolation`: the
  models, with a per-article time budget) from a worker thread, so the group join and the HTTP
  server are not held up;
* a timer that refreshes ``unspun_consumer_lag`` and ``unspun_worker_ready``.

Faust's own web server is off unless ``UNSPUN_WEB_PORT`` is set. Logging (JSON lines) is set up
by :mod:`workers.stream.logs`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faust
from mode import Service

from workers.settings import Settings
from workers.stream import metrics
from workers.stream.http import HttpServer, MetricsPortInUse, bind_metrics_socket
from workers.stream.kafka import faust_broker_urls, ssl_context
from workers.stream.logs import JsonLogFormatter, logging_config
from workers.stream.watch import BrokerWatch

__all__ = [
    "BrokerUnavailable",
    "OutputsNotSent",
    "JsonLogFormatter",
    "MetricsPortInUse",
    "WorkerState",
    "bind_metrics_socket",
    "create_app",
    "run_worker",
]

log = logging.getLogger(__name__)

# Settings.fetch_max_wait_ms: Faust fixes the fetch wait at 1500 ms; brokers that answer a waiting
# fetch only at this deadline (the embedded one does, when a consumer reads several partitions)
# then add up to that much latency per message.


#: Pause before the Kafka consumer retries after an error, seconds (see WorkerState.tune_consumer).
RETRY_BACKOFF_S = 1.0


class BrokerUnavailable(RuntimeError):
    """The Kafka broker could not be reached at start within the bounded retries."""


class OutputsNotSent(RuntimeError):
    """A batch's outputs could not be sent after every retry; the worker stopped so that it is
    restarted and the batch (never committed) is delivered again."""


class WorkerState:
    """What the agent and the side services share: settings, topics, the Enricher, readiness.

    Attributes:
        settings: the worker's settings.
        executor: single-thread pool that runs model loading and batch processing.
        enricher: the loaded :class:`workers.pipeline.Enricher`, or None while loading.
        max_message_bytes: largest message the producer may send, bytes.
        metrics_port: the port the HTTP server listens on (known once bound).
    """

    def __init__(self, settings: Settings, enricher_factory: Callable[[Settings], Any] | None = None) -> None:
        self.settings = settings
        self.enricher_factory = enricher_factory or self._isolated_enricher
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="unspun-enrich")
        self.enricher: Any = None
        self.enricher_error: BaseException | None = None
        self._enricher_ready: asyncio.Event | None = None
        self.max_message_bytes = settings.max_message_bytes
        self.metrics_socket: socket.socket | None = None
        self.metrics_port: int | None = None
        self.app: faust.App | None = None
        self.input_topic: Any = None
        self.enriched_topic: Any = None
        self.dlq_topic: Any = None
        #: The linking service (``workers.stream.linking.Linker``) and its topics by role, when UNSPUN_LINKING is on.
        self.linker: Any = None
        self.linking_topics: dict[str, Any] = {}
        self.processed: dict[tuple[str, int], int] = {}
        #: Last known lag per input (topic, partition): messages not processed yet.
        self.lag: dict[tuple[str, int], int] = {}
        self.fetch_max_wait_ms = settings.fetch_max_wait_ms
        self._fetch_tuned = False
        self.data_dir: Path | None = None
        self.temp_data_dir = False
        #: True while run_worker waits for the broker at start (reported by /ready).
        self.waiting_for_broker = False
        #: False while the running worker has lost the broker (see workers.stream.watch).
        self.broker_connected = True
        #: The error that made the worker stop itself (see :meth:`fail`), else None.
        self.fatal_error: BaseException | None = None
        self.supervisor: Service | None = None
        #: True once :meth:`abort_loading` stopped a load in progress (a stop, not a failure).
        self.loading_aborted = False
        self._loading: Any = None  # the IsolatedEnricher whose child is loading the models
        self._loading_lock = threading.Lock()

    def _event(self) -> asyncio.Event:
        if self._enricher_ready is None:
            self._enricher_ready = asyncio.Event()
        return self._enricher_ready

    async def load_enricher(self) -> None:
        """Build the Enricher in a daemon thread; on failure record the error and re-raise.

        Not in the executor: Python waits for its threads at exit, so a worker stopped during
        start-up would wait for the models it no longer needs."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        loaded: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if not loaded.done():
                loaded.set_exception(error) if error is not None else loaded.set_result(result)

        def load() -> None:
            try:
                result, error = self.enricher_factory(self.settings), None
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:  # the loop is closed: the worker stopped meanwhile
                close = getattr(result, "close", None)
                if callable(close):
                    close()

        threading.Thread(target=load, name="unspun-load-models", daemon=True).start()
        try:
            self.enricher = await loaded
        except BaseException as exc:
            if self.loading_aborted:
                # The worker is stopping: batches waiting for the models wait until cancelled.
                log.info("model loading stopped: the worker is stopping")
                return
            self.enricher_error = exc
            self._event().set()
            raise
        log.info("models loaded in %.1f s", time.perf_counter() - started)
        self._event().set()

    async def wait_enricher(self) -> Any:
        """The Enricher, waiting for it to load. Raises RuntimeError if loading failed."""
        await self._event().wait()
        if self.enricher is None:
            raise RuntimeError(f"the models could not be loaded: {self.enricher_error!r}")
        return self.enricher

    @property
    def models_ready(self) -> bool:
        """True once the Enricher is loaded and reports ``ready``."""
        return self.enricher is not None and bool(getattr(self.enricher, "ready", True))

    def assigned_input_partitions(self) -> set[Any]:
        """Input-topic partitions currently assigned to this worker (empty while rebalancing)."""
        app = self.app
        if app is None or app.rebalancing:
            return set()
        try:
            assignment = app.consumer.assignment()
        except Exception:  # noqa: BLE001 - consumer not started yet
            return set()
        return {tp for tp in assignment if tp.topic == self.settings.input_topic}

    def ready(self) -> bool:
        """Ready = models loaded, the broker answering and at least one input partition assigned."""
        return self.models_ready and self.broker_connected and bool(self.assigned_input_partitions())

    def tune_consumer(self) -> None:
        """Apply ``fetch_max_wait_ms`` and a retry backoff of ``RETRY_BACKOFF_S`` to the running
        aiokafka consumer (Faust has no setting for either).

        aiokafka's default backoff of 100 ms makes its fetcher, group coordinator and metadata
        loops retry ten times a second each while the broker is down: 77 error lines a second
        and 4.5 % of a core in a 20 s outage. Safe to call repeatedly; does nothing until the
        consumer exists or when the client's internals differ from what is expected.
        """
        if self._fetch_tuned or self.app is None:
            return
        try:
            consumer = self.app.consumer._thread._consumer  # noqa: SLF001
            fetcher, coordinator, client = consumer._fetcher, consumer._coordinator, consumer._client  # noqa: SLF001
        except AttributeError:
            return
        if fetcher is None or coordinator is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
            return
        fetcher._fetch_max_wait_ms = self.fetch_max_wait_ms  # noqa: SLF001
        fetcher._retry_backoff = RETRY_BACKOFF_S  # noqa: SLF001
        coordinator._retry_backoff_ms = int(RETRY_BACKOFF_S * 1000)  # noqa: SLF001
        client._retry_backoff = RETRY_BACKOFF_S  # noqa: SLF001
        self._fetch_tuned = True

    async def fail(self, exc: BaseException) -> None:
        """Stop the whole worker because of ``exc`` (it then exits non-zero, see :func:`run_worker`)."""
        if self.fatal_error is None:
            self.fatal_error = exc
        if self.supervisor is not None:
            await self.supervisor.crash(exc)

    def note_processed(self, messages: Sequence[Any]) -> None:
        """Remember the last processed offset per (topic, partition), for the lag gauge."""
        for m in messages:
            key = (m.topic, m.partition)
            if m.offset > self.processed.get(key, -1):
                self.processed[key] = m.offset
        self.update_lag()

    def forget_partitions(self, revoked: Any) -> None:
        """Drop the ``unspun_consumer_lag`` series and the position of input partitions this worker
        lost in a rebalance: their lag is now the new owner's to report, and a stale series here
        would add a frozen number to every sum of the lag."""
        for tp in revoked:
            if tp.topic == self.settings.input_topic:
                metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))
                self.processed.pop((tp.topic, tp.partition), None)
                self.lag.pop((tp.topic, tp.partition), None)

    def update_lag(self) -> None:
        """Set ``unspun_consumer_lag`` from the consumer's highwater and our position per partition."""
        app = self.app
        if app is None:
            return
        for tp in self.assigned_input_partitions():
            try:
                highwater = app.consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - client without highwater information
                continue
            if highwater is None or highwater < 0:
                continue
            position = self.processed.get((tp.topic, tp.partition), -1) + 1
            self.lag[(tp.topic, tp.partition)] = max(0, highwater - position)
            metrics.CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, highwater - position))

    def unprocessed(self) -> int | None:
        """Messages of the input topic this worker saw but did not process (sum of the last known
        lag of its partitions); None when it never learned the end of a partition."""
        self.update_lag()
        return sum(self.lag.values()) if self.lag else None

    def abort_loading(self) -> bool:
        """Stop a model load still in progress (the worker is stopping during start-up): kill the
        enrichment child that is loading (no other process), so the loading thread ends now
        instead of after the load; the load then counts as stopped, not failed. Returns True
        when a load was in progress."""
        if self.enricher is not None:
            return False
        with self._loading_lock:
            self.loading_aborted = True
            loading = self._loading
        if loading is not None:
            loading.stop_loading()
        return True

    def _isolated_enricher(self, settings: Settings) -> Any:
        """The default factory: the models in a child process with the per-article time budget
        (``workers.stream.isolation``), which :meth:`abort_loading` can stop while it loads."""
        from workers.stream.isolation import IsolatedEnricher  # noqa: PLC0415

        enricher = IsolatedEnricher(settings, wait=False)
        with self._loading_lock:
            self._loading, aborted = enricher, self.loading_aborted
        if aborted:  # the stop came while the child was starting
            enricher.stop_loading()
        enricher.wait_loaded()
        return enricher


class ModelLoader(Service):
    """Loads the Enricher at worker start without blocking the event loop; a failure stops the worker."""

    def __init__(self, state: WorkerState, **kwargs: Any) -> None:
        self.worker_state = state
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self.add_future(self._load())

    async def _load(self) -> None:
        try:
            await self.worker_state.load_enricher()
        except Exception as exc:  # noqa: BLE001
            log.critical("cannot load the models (%s: %s); stopping", type(exc).__name__, exc)
            await self.crash(exc)


def _credentials(settings: Settings) -> Any:
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password,
        ssl_context=context,
        mechanism=settings.sasl_mechanism,
    )


def _data_dir(settings: Settings) -> tuple[Path, bool]:
    """Faust's data directory and whether it is a temporary one (removed when the worker stops).

    ``UNSPUN_DATA_DIR`` names a fixed directory; by default each worker gets its own temporary
    directory, so several workers can run side by side from one working directory.
    """
    configured = settings.data_dir
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    return Path(tempfile.mkdtemp(prefix=f"unspun-{settings.app_id}-")), True


def create_app(
    settings: Settings,
    *,
    enricher_factory: Callable[[Settings], Any] | None = None,
) -> faust.App:
    """Build the worker's Faust app from ``settings``.

    The app consumes ``settings.input_topic`` in consumer group ``settings.app_id`` and writes
    to the enriched and dead-letter topics; keys and values are raw bytes (JSON made with
    orjson). Its :class:`WorkerState` is ``app.unspun`` and the side services (HTTP server,
    model loader) are ``app.unspun_services``; :func:`run_worker` starts them before the app.

    Args:
        settings: worker settings; ``settings.broker`` must be set (the CLI starts the embedded
            broker and fills it in when ``KAFKA_BROKER`` is unset).
        enricher_factory: builds the Enricher from settings; default: a ``workers.stream.isolation.IsolatedEnricher``.

    Raises:
        ValueError: when no broker URL is configured.
    """
    if not settings.broker:
        raise ValueError(
            "No Kafka broker configured: set KAFKA_BROKER (e.g. kafka://127.0.0.1:9092), "
            "or run `unspun worker` without it to start the embedded broker."
        )
    state = WorkerState(settings, enricher_factory)
    data_dir, state.temp_data_dir = _data_dir(settings)
    state.data_dir = data_dir
    conf: dict[str, Any] = {
        "broker": faust_broker_urls(settings.broker),
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_disable_leader": True,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.heartbeat_interval_s,
        "consumer_auto_offset_reset": "earliest",
        # Acknowledged offsets are committed every UNSPUN_COMMIT_INTERVAL_S (1 s; Faust's default
        # is 2.8 s): after a crash, at most about that much processed work is delivered again.
        "broker_commit_interval": settings.commit_interval_s,
        "producer_max_request_size": state.max_message_bytes,
        # A send not acknowledged in this time fails (Faust's default is 20 minutes), so a batch
        # whose outputs cannot be delivered ends in a clear stop rather than a silent stall.
        "producer_request_timeout": settings.producer_request_timeout_s,
        "producer_acks": -1,
        "producer_compression_type": None if settings.output_compression == "none" else settings.output_compression,
        "datadir": str(data_dir),
        "web_enabled": settings.web_port > 0,
        "web_port": settings.web_port or 6066,
        "web_bind": settings.metrics_host,
        "stream_wait_empty": True,
    }
    credentials = _credentials(settings)
    if credentials is not None:
        conf["broker_credentials"] = credentials
    app = faust.App(settings.app_id, **conf)
    state.app = app
    state.input_topic = app.topic(
        settings.input_topic, partitions=settings.partitions, key_type=bytes, value_type=bytes
    )
    state.enriched_topic = app.topic(
        settings.enriched_topic, partitions=settings.partitions, key_type=bytes, value_type=bytes
    )
    state.dlq_topic = app.topic(settings.dlq_topic, partitions=settings.partitions, key_type=bytes, value_type=bytes)
    if settings.linking:
        from workers.stream.linking import Linker  # noqa: PLC0415

        state.linker = Linker(settings)
        state.linking_topics = {
            role: app.topic(name, partitions=settings.partitions, key_type=bytes, value_type=bytes)
            for role, name in (
                ("fingerprints", settings.fingerprints_topic), ("links", settings.links_topic), ("learned", settings.learned_topic)
            )
        }
    metrics.init_labels([settings.input_topic])
    metrics.WORKER_READY.set(0)

    from workers.stream.agents import register_agents  # noqa: PLC0415 - avoids an import cycle

    register_agents(app, state)

    @app.on_partitions_assigned.connect
    async def on_assigned(app: Any, assigned: Any, **kwargs: Any) -> None:
        state.tune_consumer()

    @app.on_partitions_revoked.connect
    async def on_revoked(app: Any, revoked: Any, **kwargs: Any) -> None:
        state.forget_partitions(revoked)

    @app.timer(interval=2.0)
    async def refresh_gauges() -> None:
        state.tune_consumer()
        state.update_lag()
        metrics.WORKER_READY.set(1 if state.ready() else 0)

    if state.linker is not None:
        from workers.linking.learn import LEARNED_FAMILY  # noqa: PLC0415

        learned_in_use = {"version": 0}

        @app.timer(interval=1.0)
        async def apply_learned() -> None:
            # Hand newly learned pairs to the restorer between batches (same single processing thread).
            linker, version = state.linker, state.linker.learned_version
            if version == learned_in_use["version"] or not state.models_ready:
                return
            entries = linker.learned_entries()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(state.executor, state.enricher.update_family, LEARNED_FAMILY, entries)
            learned_in_use["version"] = version
            metrics.LEARNED_IN_USE.set(sum(len(e.substitutes) for e in entries))
            log.info("the restorer uses %d learned substitutions", sum(len(e.substitutes) for e in entries))

    app.unspun = state  # type: ignore[attr-defined]
    loader = ModelLoader(state)
    state.supervisor = loader  # crashing a worker service stops the worker with its error
    app.unspun_services = [HttpServer(state), loader, BrokerWatch(state), *([state.linker] if state.linker else [])]  # type: ignore[attr-defined]
    return app


class _Worker(faust.Worker):
    """Faust's worker, saying at once when a stop signal comes during start-up, and cancelling a
    model load in progress (Python would otherwise wait for it at exit: 13 s and no message)."""

    def __init__(self, state: WorkerState, *args: Any, **kwargs: Any) -> None:
        self.unspun_state = state
        super().__init__(*args, **kwargs)

    def _schedule_shutdown(self, signal: Any) -> None:
        state = self.unspun_state
        if not getattr(self, "_signal_stop_time", None) and not state.ready():
            pending = [
                what
                for what, done in (("loading the models", state.models_ready), ("joining the consumer group", bool(state.assigned_input_partitions())))
                if not done
            ]
            log.warning("stopping during start-up (was %s); this takes a few seconds", " and ".join(pending) or "starting")
            state.abort_loading()
        super()._schedule_shutdown(signal)


def run_worker(
    settings: Settings,
    *,
    enricher_factory: Callable[[Settings], Any] | None = None,
    on_bound: Callable[[int], None] | None = None,
    on_exit: Callable[[WorkerState], None] | None = None,
) -> None:
    """Run the worker until SIGINT/SIGTERM: bind the metrics port, create topics, run Faust.

    Args:
        settings: worker settings with ``broker`` set.
        enricher_factory: see :func:`create_app`.
        on_bound: called with the metrics port once it is bound (useful with port 0).
        on_exit: called with the worker's state once Faust has stopped (for example to report
            :meth:`WorkerState.unprocessed`).

    Raises:
        MetricsPortInUse: the metrics port is taken (before anything else starts).
        BrokerUnavailable: the broker did not answer within ``UNSPUN_BROKER_RETRY_ATTEMPTS`` attempts.
        OutputsNotSent: a batch's outputs could not be sent after ``UNSPUN_SEND_ATTEMPTS`` tries.
        ValueError: no broker configured.
    """
    sock = bind_metrics_socket(settings.metrics_host, settings.metrics_port)
    import logging.config  # noqa: PLC0415

    logging.config.dictConfig(logging_config(settings))
    port = sock.getsockname()[1]
    if on_bound is not None:
        on_bound(port)
    app = create_app(settings, enricher_factory=enricher_factory)
    state: WorkerState = app.unspun  # type: ignore[attr-defined]
    state.metrics_socket = sock
    state.metrics_port = port

    from workers.stream.kafka import describe_error, ensure_topics  # noqa: PLC0415

    async def _create_topics() -> None:
        # Wait for the broker with bounded, backed-off retries (Faust gives up at once when the
        # broker cannot be reached at start), creating the topics once it answers.
        hosts = ",".join(faust_broker_urls(settings.broker))
        delay, started = settings.broker_retry_first_s, time.monotonic()
        for attempt in range(1, settings.broker_retry_attempts + 1):
            try:
                created = await ensure_topics(settings, timeout_s=settings.broker_probe_timeout_s)
            except Exception as exc:  # noqa: BLE001 - any client error: unreachable, timeout, auth
                if attempt == settings.broker_retry_attempts:
                    raise BrokerUnavailable(
                        f"Kafka broker {hosts} unreachable after {attempt} attempts over "
                        f"{time.monotonic() - started:.0f} s ({describe_error(exc)}); giving up. "
                        "Check KAFKA_BROKER and that the broker is running."
                    ) from None
                log.warning(
                    "Kafka broker %s unreachable (%s); attempt %d of %d, next in %.1f s",
                    hosts, describe_error(exc), attempt, settings.broker_retry_attempts, delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, settings.broker_retry_max_s)
                continue
            if attempt > 1:
                log.info("Kafka broker %s reachable after %d attempts (%.1f s)", hosts, attempt, time.monotonic() - started)
            if created:
                log.info("created topics %s with %d partitions", created, settings.partitions)
            return

    worker = _Worker(
        state,
        app,
        *app.unspun_services,  # type: ignore[attr-defined]
        loglevel=settings.log_level,
        logging_config=logging_config(settings),
        redirect_stdouts=False,
        quiet=settings.log_json,
        override_logging=True,
    )
    # Serve /health, /ready and /metrics while waiting for the broker: a liveness probe must see a
    # live process that is retrying, not a closed port (the HttpServer service keeps this server).
    http_server = next(sv for sv in app.unspun_services if isinstance(sv, HttpServer))  # type: ignore[attr-defined]
    worker.loop.run_until_complete(http_server.serve())
    state.waiting_for_broker, state.broker_connected = True, False
    try:
        worker.loop.run_until_complete(_create_topics())
    except BrokerUnavailable:
        worker.loop.run_until_complete(http_server.close())
        state.executor.shutdown(wait=False, cancel_futures=True)
        if state.temp_data_dir and state.data_dir is not None:
            shutil.rmtree(state.data_dir, ignore_errors=True)
        raise
    state.waiting_for_broker, state.broker_connected = False, True
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if state.fatal_error is not None:
            raise OutputsNotSent(
                f"stopped: a batch's outputs could not be sent ({type(state.fatal_error).__name__}: "
                f"{state.fatal_error}); its offsets were not committed, so it is delivered again "
                "when the worker restarts."
            ) from None
        raise
    finally:
        state.abort_loading()
        left = state.unprocessed()
        if left:
            log.warning("stopped with %d messages of %s not processed yet (lag at exit)", left, settings.input_topic)
        if on_exit is not None:
            on_exit(state)
        state.executor.shutdown(wait=False, cancel_futures=True)
        close = getattr(state.enricher, "close", None)
        if callable(close):
            close()
        if state.temp_data_dir and state.data_dir is not None:
            shutil.rmtree(state.data_dir, ignore_errors=True)
