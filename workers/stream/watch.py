"""Broker liveness while the worker runs: a small Kafka client asks the cluster for its metadata
every ``interval_s`` seconds, so that ``/ready`` turns 503 when the broker is lost and 200 again
when it answers (the Kafka clients of the worker reconnect by themselves but say nothing that
readiness could use).

A metadata request is the cheapest request every broker answers; one every 2 s costs nothing
measurable. A request that gets no answer within ``UNSPUN_BROKER_PROBE_TIMEOUT_S`` counts as lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from mode import Service

from workers.stream.kafka import client_kwargs

if TYPE_CHECKING:  # pragma: no cover
    from workers.stream.app import WorkerState

__all__ = ["BrokerWatch"]

log = logging.getLogger(__name__)


class BrokerWatch(Service):
    """Keeps ``state.broker_connected`` true while the broker answers metadata requests.

    Args:
        state: the worker's shared state (settings, readiness).
        interval_s: pause between two requests, seconds.
    """

    def __init__(self, state: "WorkerState", interval_s: float = 2.0, **kwargs: Any) -> None:
        self.worker_state = state
        self.interval_s = interval_s
        self._lost_at: float | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self.add_future(self._watch())

    async def _watch(self) -> None:
        from aiokafka.client import AIOKafkaClient  # noqa: PLC0415

        settings = self.worker_state.settings
        timeout_s = settings.broker_probe_timeout_s
        client = AIOKafkaClient(
            request_timeout_ms=int(timeout_s * 1000), retry_backoff_ms=500, **client_kwargs(settings)
        )
        bootstrapped = False
        try:
            while not self.should_stop:
                try:
                    if not bootstrapped:
                        await asyncio.wait_for(client.bootstrap(), timeout_s)
                        bootstrapped = True
                    else:
                        await asyncio.wait_for(client.fetch_all_metadata(), timeout_s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any client error means "not answering"
                    self._set(False, exc)
                else:
                    self._set(True)
                await self.sleep(self.interval_s)
        finally:
            await client.close()

    def _set(self, connected: bool, exc: BaseException | None = None) -> None:
        state = self.worker_state
        if connected and not state.broker_connected:
            lost_for = time.monotonic() - self._lost_at if self._lost_at is not None else 0.0
            log.info("Kafka broker answers again after %.0f s; ready when partitions are assigned", lost_for)
            self._lost_at = None
        elif not connected and state.broker_connected:
            self._lost_at = time.monotonic()
            reason = str(exc) if exc is not None else ""
            if not reason.startswith(type(exc).__name__):
                reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
            log.warning(
                "lost the Kafka broker (%s); /ready answers 503 until it answers again, the clients keep reconnecting",
                reason,
            )
        state.broker_connected = connected
