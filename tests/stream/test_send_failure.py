"""Outputs that cannot be sent after every retry stop the worker with a clear error (exit code
non-zero) instead of stalling the partition while it looks healthy; the uncommitted batch is
delivered again to the restarted worker (at-least-once).

The real worker runs against its own embedded broker, which is paused (SIGSTOP) while a batch is
being processed, so that batch's sends time out (UNSPUN_PRODUCER_REQUEST_TIMEOUT_S=2, three
attempts). A slow article (test-only marker, 4 s budget) keeps the batch busy long enough. Each
attempt gives up within the setting (measured from the log's timestamps, with a generous margin:
the Kafka client alone spent the timeout once per reconnection and metadata request, 4x here).
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TEXT = "The governor mentioned on Friday that Marisol Vega would lead the port authority."
MARKER = "SLOW-ARTICLE-MARKER"
REQUEST_TIMEOUT_S = 2.0


def _attempt_durations(log: str) -> list[float]:
    """Seconds each measurable send attempt took: from the end of one failed attempt plus its
    backoff ("retry N in X s") to the end of the next one."""
    ends = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("message", "")
        if entry.get("logger") == "workers.stream.agents" and (
            message.startswith("sending a batch of") or message.startswith("giving up sending")
        ):
            at = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()
            backoff = float(message.rsplit(" in ", 1)[1].split()[0]) if "; retry " in message else 0.0
            ends.append((at, backoff))
    return [round(b[0] - a[0] - a[1], 2) for a, b in zip(ends, ends[1:])]


def test_unsendable_outputs_stop_the_worker_and_the_batch_is_redelivered(kit, start_worker):
    from workers.stream.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        env = kit.stream_env(
            broker,
            UNSPUN_PRODUCER_REQUEST_TIMEOUT_S=str(REQUEST_TIMEOUT_S),
            UNSPUN_SEND_ATTEMPTS="3",
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
        durations = _attempt_durations(log)
        print(f"send attempts took {durations} s (UNSPUN_PRODUCER_REQUEST_TIMEOUT_S={REQUEST_TIMEOUT_S:g})")
        assert len(durations) == 2, log[-5000:]
        assert all(d <= 2 * REQUEST_TIMEOUT_S + 1 for d in durations), durations

        # The batch was never committed: a restarted worker in the same group delivers it.
        second = start_worker(dict(env, UNSPUN_TEST_SLOW_MARKER="unused-marker"))
        second.wait_ready(timeout_s=120)
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(messages), timeout_s=90)
        assert {r.key for r in outputs} == {k for k, _ in messages}, (log[-5000:], [(r.topic, r.key) for r in outputs])
        assert second.stop() == 0
