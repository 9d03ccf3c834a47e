"""The worker's HTTP server: ``/metrics`` (Prometheus text format, default registry), ``/health``
(200 while the process runs: liveness) and ``/ready`` (200 once the models are loaded, the broker
answers and input partitions are assigned, else 503: readiness), on
``UNSPUN_METRICS_HOST:UNSPUN_METRICS_PORT``.

The server runs from the very start, also while the worker waits for an unreachable broker:
``/health`` then answers 200 (the process is alive and retrying, so a liveness probe must not
kill it) and ``/ready`` 503 with ``"waiting_for_broker": true``.

The port is bound before anything else starts (:func:`bind_metrics_socket`), so a taken port
fails fast with a clear message.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING, Any

from aiohttp import web
from mode import Service

from workers.stream import metrics

if TYPE_CHECKING:  # pragma: no cover
    from workers.stream.app import WorkerState

__all__ = ["HttpServer", "MetricsPortInUse", "bind_metrics_socket", "http_app"]

log = logging.getLogger("workers.stream.app")


class MetricsPortInUse(RuntimeError):
    """The metrics/health port cannot be bound (already in use, or not permitted)."""


def bind_metrics_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (port 0: a free one) for the metrics server.

    Binding before anything else starts makes a taken port fail fast.

    Raises:
        MetricsPortInUse: with a message naming the address and the setting to change.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise MetricsPortInUse(
                f"Metrics port {host}:{port} is already in use (another unspun worker?). "
                "Set UNSPUN_METRICS_PORT to a free port, or 0 to pick one."
            ) from None
        raise MetricsPortInUse(f"Cannot bind the metrics server to {host}:{port}: {exc.strerror}.") from None
    sock.setblocking(False)
    return sock


def http_app(state: "WorkerState") -> web.Application:
    async def metrics_view(_: web.Request) -> web.Response:
        metrics.WORKER_READY.set(1 if state.ready() else 0)
        body, content_type = metrics.exposition()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        partitions = sorted(tp.partition for tp in state.assigned_input_partitions())
        is_ready = state.models_ready and state.broker_connected and bool(partitions)
        metrics.WORKER_READY.set(1 if is_ready else 0)
        body = {
            "ready": is_ready,
            "models_loaded": state.models_ready,
            "broker_connected": state.broker_connected,
            "partitions": partitions,
        }
        if state.waiting_for_broker:
            body["waiting_for_broker"] = True
        if state.enricher_error is not None:
            body["error"] = f"{type(state.enricher_error).__name__}: {state.enricher_error}"
        return web.json_response(body, status=200 if is_ready else 503)

    webapp = web.Application()
    webapp.router.add_get("/metrics", metrics_view)
    webapp.router.add_get("/health", health)
    webapp.router.add_get("/ready", ready)
    return webapp


class HttpServer(Service):
    """Serves /metrics, /health and /ready on the pre-bound socket of ``state`` (or binds one).

    :meth:`serve` may be called before the service starts (``run_worker`` does, so liveness and
    metrics answer while the worker waits for the broker); starting the service then keeps the
    server that is already running.
    """

    def __init__(self, state: "WorkerState", **kwargs: Any) -> None:
        self.worker_state = state
        self._runner: web.AppRunner | None = None
        super().__init__(**kwargs)

    async def serve(self) -> None:
        """Start serving now (idempotent)."""
        if self._runner is not None:
            return
        state = self.worker_state
        if state.metrics_socket is None:
            state.metrics_socket = bind_metrics_socket(state.settings.metrics_host, state.settings.metrics_port)
        state.metrics_port = state.metrics_socket.getsockname()[1]
        self._runner = web.AppRunner(http_app(state), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, state.metrics_socket).start()
        log.info(
            "metrics server on http://%s:%d (/metrics /health /ready)", state.settings.metrics_host, state.metrics_port
        )

    async def close(self) -> None:
        """Stop serving (idempotent)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def on_start(self) -> None:
        await self.serve()

    async def on_stop(self) -> None:
        await self.close()


_http_app = http_app  # the former private name
