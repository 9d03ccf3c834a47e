"""CPU-bound work runs off the event loop: while the worker restores a 200,000-character article,
/metrics and /health answer promptly and the consumer keeps its group membership (no re-delivery)."""

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
    # The event of a 200k-character spun article (text, restored text, every edit) is about
    # 1.7 MB: allow it, so the test sees the event rather than a too_large dead letter.
    worker = start_worker(kit.stream_env(broker, UNSPUN_MAX_MESSAGE_BYTES="8000000"))
    worker.wait_ready()
    settings = worker.settings
    text = PARAGRAPH * (200_000 // len(PARAGRAPH) + 1)
    assert len(text) >= 200_000
    kit.produce(settings, settings.input_topic, [(b"long", orjson.dumps({"id": "long", "text": text}))])

    # The poller thread only records what it sees; every assertion is made here, in the test's
    # thread (an assert inside the thread would not fail the test).
    timings: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                status, _ = kit.http_get(worker.metrics_port, "/metrics", timeout=10)
            except Exception as exc:  # noqa: BLE001 - recorded, asserted below
                failures.append(f"{type(exc).__name__}: {exc}")
            else:
                if status != 200:
                    failures.append(f"status {status}")
            timings.append(time.perf_counter() - t0)
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=1, timeout_s=120, settle_s=2)
    finally:
        stop.set()
        poller.join(timeout=15)
    assert not poller.is_alive()
    assert not failures, failures[:5]
    assert len(outputs) == 1, [(o.topic, o.key) for o in outputs]
    assert outputs[0].topic == settings.enriched_topic, outputs[0].value[:500]
    assert len(outputs[0].json["text"]) >= 200_000
    assert len(timings) >= 10
    assert max(timings) < 1.0, f"slowest /metrics answer {max(timings):.2f} s"
    status, _ = kit.http_get(worker.metrics_port, "/health")
    assert status == 200
