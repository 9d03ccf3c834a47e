"""CPU-bound work runs off the event loop: while the worker restores a long article, /metrics and
/health answer promptly and the consumer keeps its group membership (no re-delivery)."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PARAGRAPH = (
    "Union chief Marisol Vega mentioned the settlement protected jobs, whereas the port authority "
    "mentioned it anticipated site visitors to return to regular by the tip of the week. "
)


def test_http_stays_responsive_during_a_long_article(broker, kit, start_worker):
    worker = start_worker(kit.stream_env(broker))
    worker.wait_ready()
    settings = worker.settings
    text = PARAGRAPH * (100_000 // len(PARAGRAPH))
    kit.produce(settings, settings.input_topic, [(b"long", orjson.dumps({"id": "long", "text": text}))])

    timings: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            status, _ = kit.http_get(worker.metrics_port, "/metrics", timeout=10)
            assert status == 200
            timings.append(time.perf_counter() - t0)
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=1, timeout_s=90, settle_s=2)
    finally:
        stop.set()
        poller.join(timeout=15)
    assert len(outputs) == 1, [(o.topic, o.key) for o in outputs]
    assert outputs[0].topic == settings.enriched_topic
    assert len(timings) >= 10
    assert max(timings) < 1.0, f"slowest /metrics answer {max(timings):.2f} s"
    status, _ = kit.http_get(worker.metrics_port, "/health")
    assert status == 200
