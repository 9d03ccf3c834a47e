"""The broker unavailable at start, or gone for a while, with the real worker process.

Each test runs its own embedded broker (the session's may be shared, and is memory-only, so a
restart would lose its topics): "unavailable at start" starts the worker first and the broker a
few seconds later on the same port; "gone for a while" puts a TCP proxy in front of the broker
(advertised to clients) and cuts it, so every connection is refused as from a broker that is
down, then opens it again. While the broker is away the worker logs clearly but without flooding
(repeats are held back: a few lines per 10 s instead of about 77 a second), `/ready` answers 503,
and it stays nearly idle (CPU measured from /proc); when it is back, `/ready` is 200 again and
every article gets its output.
"""

from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

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


def _wait_status(kit, port: int, status: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code, body = kit.http_get(port, "/ready")
        if code == status:
            return body
        time.sleep(0.2)
    raise AssertionError(f"/ready did not answer {status} within {timeout_s} s (last: {code} {body})")


def _library_warnings(lines: list[str]) -> list[str]:
    """Lines of WARNING or worse written by the Kafka and stream libraries (not by unspun)."""
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("WARNING", "ERROR", "CRITICAL") and not entry.get("logger", "").startswith("workers"):
            out.append(line)
    return out


def test_broker_gone_for_a_while(kit, start_worker):
    from workers.stream.broker import EmbeddedBroker, free_port

    proxy_port = free_port()
    with EmbeddedBroker(advertised_port=proxy_port) as broker:
        proxy = kit.TcpProxy(proxy_port, broker.port)
        env = kit.stream_env(SimpleNamespace(url=f"kafka://127.0.0.1:{proxy_port}"))
        worker = start_worker(env)
        worker.wait_ready(timeout_s=120)
        settings = worker.settings
        first = _messages("b", 30)
        kit.produce(settings, settings.input_topic, first)
        assert _keys(kit.consume(settings, [settings.enriched_topic], expected=30, timeout_s=60)) >= {k for k, _ in first}
        seen = len(worker.log_path.read_text(errors="replace").splitlines())
        proxy.cut()
        try:
            down = time.monotonic()
            body = _wait_status(kit, worker.metrics_port, 503, timeout_s=30)
            assert '"broker_connected": false' in body, body
            cpu = _cpu_share(worker.proc.pid, 8)
            assert kit.http_get(worker.metrics_port, "/ready")[0] == 503
            time.sleep(max(0.0, 13 - (time.monotonic() - down)))  # past one 10 s window of held-back repeats
            outage_s = time.monotonic() - down
        finally:
            proxy.restore()
        assert worker.proc.poll() is None, worker.log()
        _wait_status(kit, worker.metrics_port, 200, timeout_s=60)
        log_lines = worker.log_path.read_text(errors="replace").splitlines()[seen:]
        flood = _library_warnings(log_lines)
        second = _messages("c", 30)
        kit.produce(settings, settings.input_topic, second)
        wanted = {k for k, _ in first + second}
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=60, timeout_s=120)
        print(
            f"\nbroker down {outage_s:.0f} s: worker CPU {cpu:.1%} of a core, {len(flood)} library warning lines, "
            f"/ready 503 then 200; {len(_keys(outputs) & wanted)} of 60 after"
        )
        assert _keys(outputs) == wanted
        assert cpu < IDLE_CPU_BOUND, cpu
        # Repeats are held back: a handful of distinct messages, each at most once per 10 s window.
        assert len(flood) <= 60, "\n".join(flood[:80])
        assert any("lost the Kafka broker" in line for line in log_lines)
        assert any("not logged]" in line for line in log_lines), "\n".join(flood)
        assert worker.stop() == 0
