"""The broker unavailable at start, or gone for a while, with the real worker process.

Each test runs its own embedded broker (the session's may be shared, and is memory-only, so a
restart would lose its topics): "unavailable at start" starts the worker first and the broker a
few seconds later on the same port; "gone for a while" pauses the broker with SIGSTOP and
resumes it with SIGCONT. While the broker is away the worker logs clearly, retries with
backoff and stays nearly idle (CPU measured from /proc); when it is back, every article gets
its output.
"""

from __future__ import annotations

import os
import signal
import time

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TEXT = "The governor mentioned on Friday that Marisol Vega would lead the port authority."
#: CPU the worker may use while the broker is away, as a fraction of one core: far below a busy
#: loop (1.0), generous for retries, heartbeats and the metrics timer on a loaded machine.
IDLE_CPU_BOUND = 0.25


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_share(pid: int, seconds: float) -> float:
    c0, t0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def _messages(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    return [(f"{prefix}{i}".encode(), orjson.dumps({"id": f"{prefix}{i}", "text": f"{TEXT} Item {i}."})) for i in range(n)]


def _keys(records) -> set[bytes]:
    return {r.key for r in records}


def test_broker_unavailable_at_start(kit, start_worker):
    from workers.stream.broker import EmbeddedBroker, free_port

    broker = EmbeddedBroker(port=free_port())
    env = kit.stream_env(broker)
    worker = start_worker(env)
    try:
        time.sleep(3)
        assert worker.proc.poll() is None, worker.log()
        cpu = _cpu_share(worker.proc.pid, 4)
        log = worker.log_path.read_text(errors="replace")
        assert "unreachable" in log and "attempt 2 of" in log, log[-3000:]
        # Waiting is alive, not ready: a liveness probe on /health must not kill the pod.
        assert kit.http_get(worker.metrics_port, "/health")[0] == 200
        status, body = kit.http_get(worker.metrics_port, "/ready")
        assert status == 503 and '"waiting_for_broker": true' in body, body
        status, text = kit.http_get(worker.metrics_port, "/metrics")
        assert status == 200 and "unspun_worker_ready 0.0" in text
        broker.start()
        worker.wait_ready(timeout_s=120)
        settings = worker.settings
        messages = _messages("a", 20)
        kit.produce(settings, settings.input_topic, messages)
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=20, timeout_s=60)
        print(f"\nbroker unavailable at start: worker CPU {cpu:.1%} of a core while waiting; recovered")
        assert _keys(outputs) == {k for k, _ in messages}
        assert "reachable after" in worker.log_path.read_text(errors="replace")
        assert "waiting_for_broker" not in kit.http_get(worker.metrics_port, "/ready")[1]
        assert cpu < IDLE_CPU_BOUND, cpu
        assert worker.stop() == 0
    finally:
        worker.stop()
        broker.stop()


def test_broker_gone_for_a_while(kit, start_worker):
    from workers.stream.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        env = kit.stream_env(broker)
        worker = start_worker(env)
        worker.wait_ready(timeout_s=120)
        settings = worker.settings
        first = _messages("b", 30)
        kit.produce(settings, settings.input_topic, first)
        assert _keys(kit.consume(settings, [settings.enriched_topic], expected=30, timeout_s=60)) >= {k for k, _ in first}
        pid = broker._proc.pid  # noqa: SLF001 - our own broker process
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(4)
            cpu = _cpu_share(worker.proc.pid, 8)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert worker.proc.poll() is None, worker.log()
        second = _messages("c", 30)
        kit.produce(settings, settings.input_topic, second)
        wanted = {k for k, _ in first + second}
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=60, timeout_s=120)
        print(f"\nbroker paused 12 s: worker CPU {cpu:.1%} of a core meanwhile; {len(_keys(outputs) & wanted)} of 60 after")
        assert _keys(outputs) == wanted
        assert cpu < IDLE_CPU_BOUND, cpu
        assert worker.stop() == 0
