"""The worker's HTTP endpoints (/health, /ready, /metrics) and the metrics-port check, in process."""

from __future__ import annotations

import socket

import pytest
from aiohttp.test_utils import TestClient, TestServer

from workers.settings import Settings
from workers.stream.app import WorkerState
from workers.stream.http import MetricsPortInUse, bind_metrics_socket, http_app


class _Ready:
    ready = True


async def test_ready_is_503_until_models_load_and_partitions_are_assigned():
    state = WorkerState(Settings())
    async with TestClient(TestServer(http_app(state))) as client:
        resp = await client.get("/health")
        assert resp.status == 200
        resp = await client.get("/ready")
        assert resp.status == 503
        body = await resp.json()
        assert body == {"ready": False, "models_loaded": False, "broker_connected": True, "partitions": []}
        state.enricher = _Ready()
        resp = await client.get("/ready")
        assert resp.status == 503 and (await resp.json())["models_loaded"] is True
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
        assert "unspun_worker_ready 0.0" in text
        assert "unspun_end_to_end_latency_seconds_bucket" in text
    state.executor.shutdown()


def test_metrics_port_in_use_fails_fast_with_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortInUse, match=f"127.0.0.1:{port} is already in use.*UNSPUN_METRICS_PORT"):
            bind_metrics_socket("127.0.0.1", port)


def test_port_zero_picks_a_free_port():
    sock = bind_metrics_socket("127.0.0.1", 0)
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_a_revoked_partition_no_longer_counts_in_the_lag_reported_at_exit():
    from collections import namedtuple

    tp = namedtuple("TP", "topic partition")
    settings = Settings()
    state = WorkerState(settings)
    state.lag[(settings.input_topic, 0)], state.lag[(settings.input_topic, 1)] = 5, 7
    state.forget_partitions([tp(settings.input_topic, 1)])
    assert state.unprocessed() == 5  # partition 1's lag is its new owner's to report
    state.executor.shutdown()
