"""Outputs that cannot be sent after every retry stop the worker with a clear error (exit code
non-zero) instead of stalling the partition while it looks healthy; the uncommitted batch is
delivered again to the restarted worker (at-least-once).

The real worker runs against its own embedded broker, which is paused (SIGSTOP) while a batch is
being processed, so that batch's sends time out (UNSPUN_PRODUCER_REQUEST_TIMEOUT_S=2, two
attempts). A slow article (test-only marker, 4 s budget) keeps the batch busy long enough.
"""

from __future__ import annotations

import os
import signal
import time

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TEXT = "The governor mentioned on Friday that Marisol Vega would lead the port authority."
MARKER = "SLOW-ARTICLE-MARKER"


def test_unsendable_outputs_stop_the_worker_and_the_batch_is_redelivered(kit, start_worker):
    from workers.stream.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        env = kit.stream_env(
            broker,
            UNSPUN_PRODUCER_REQUEST_TIMEOUT_S="2",
            UNSPUN_SEND_ATTEMPTS="2",
            UNSPUN_ARTICLE_TIMEOUT_S="4",
            UNSPUN_TEST_SLOW_MARKER=MARKER,
            UNSPUN_BATCH_TIMEOUT_S="0.5",
        )
        worker = start_worker(env)
        full_log = lambda: worker.log_path.read_text(errors="replace")  # noqa: E731 - whole file
        worker.wait_ready(timeout_s=120)
        settings = worker.settings
        messages = [(b"slow", orjson.dumps({"id": "slow", "text": f"{TEXT} {MARKER}"}))]
        messages += [(f"n{i}".encode(), orjson.dumps({"id": f"n{i}", "text": f"{TEXT} Item {i}."})) for i in range(3)]
        kit.produce(settings, settings.input_topic, messages, partition=0)
        time.sleep(1.5)  # the batch is in the enrichment child (the slow article holds it 4 s)
        pid = broker._proc.pid  # noqa: SLF001 - our own broker process
        os.kill(pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 60
            while "giving up sending" not in full_log() and time.monotonic() < deadline:
                assert worker.proc.poll() is None or "giving up sending" in full_log(), worker.log()
                time.sleep(0.2)
            assert "giving up sending" in full_log(), worker.log()
        finally:
            os.kill(pid, signal.SIGCONT)
        code = worker.proc.wait(timeout=90)
        log = full_log()
        print(f"\nworker exited with {code} after its sends failed")
        assert code != 0, log[-5000:]
        assert "stopping the worker so it restarts and the batch is delivered again" in log, log[-5000:]
        assert "unspun: stopped: a batch's outputs could not be sent" in log, log[-5000:]

        # The batch was never committed: a restarted worker in the same group delivers it.
        second = start_worker(dict(env, UNSPUN_TEST_SLOW_MARKER="unused-marker"))
        second.wait_ready(timeout_s=120)
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(messages), timeout_s=90)
        assert {r.key for r in outputs} == {k for k, _ in messages}, (log[-5000:], [(r.topic, r.key) for r in outputs])
        assert second.stop() == 0
