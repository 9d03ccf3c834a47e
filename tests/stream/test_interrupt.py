"""Stopping the real worker process (``unspun worker``) with Ctrl-C (SIGINT):

* during start-up (models loading, group join pending) it says so at once and exits 0 promptly,
  instead of waiting silently for the models it no longer needs;
* on the embedded broker (memory only) it says on exit how many messages were left unprocessed
  (lag at exit), since they are gone with the broker.

Also checked on the embedded broker: the consumer group join, which that broker answers only after
half the session timeout (15 s with the default 30 s, so /ready took 18 s), takes a few seconds
(measured from the log's timestamps, with a generous bound).
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import re
import signal
import time
from datetime import datetime

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TEXT = "The governor mentioned on Friday that Marisol Vega would lead the port authority."
#: Generous bound on a stop during start-up (it used to take 13 s, now about 1 s).
START_UP_STOP_BOUND_S = 10.0


#: Generous bound on the group join on the embedded broker (15 s before, about 4 s now).
JOIN_BOUND_S = 10.0


def _join_seconds(log: str) -> float:
    """Seconds from the consumer's first "(Re-)joining group" line to its "Joined group" line."""
    started = joined = None
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        at = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()
        if started is None and entry["message"].startswith("(Re-)joining group"):
            started = at
        elif started is not None and entry["message"].startswith("Joined group"):
            joined = at
            break
    assert started is not None and joined is not None, log[-3000:]
    return joined - started


def _wait_for_line(worker, needle: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while needle not in worker.log_path.read_text(errors="replace"):
        assert worker.proc.poll() is None, worker.log()
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.05)


def test_ctrl_c_during_start_up_is_prompt_and_says_so(broker, kit, tmp_path):
    worker = kit.launch_worker(kit.stream_env(broker), tmp_path / "worker.log")
    try:
        _wait_for_line(worker, "Worker]: Starting")
        worker.proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        code = worker.proc.wait(timeout=60)
        took = time.monotonic() - t0
    finally:
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    print(f"\nCtrl-C during start-up: exit {code} after {took:.1f} s")
    assert code == 0, log[-3000:]
    assert "stopping during start-up (was loading the models" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert "cannot load the models" not in log, log[-3000:]
    assert took < START_UP_STOP_BOUND_S, took


async def test_a_stop_during_loading_kills_the_loading_child_and_no_other(kit, caplog):
    """The worker's abort during start-up (what Ctrl-C and SIGTERM call) ends the real enrichment
    child while it loads the models, leaves the process's other multiprocessing children running,
    and is neither logged nor reported (``/ready``'s error) as a model-loading failure."""
    from workers.stream.app import WorkerState

    unrelated = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(600,), daemon=True)
    unrelated.start()
    state = WorkerState(kit.settings_for({}))
    caplog.set_level(logging.INFO, logger="workers")
    load = asyncio.create_task(state.load_enricher())
    try:
        deadline = time.monotonic() + 60
        loading = []
        while not loading:
            assert time.monotonic() < deadline and not load.done(), "no enrichment child started"
            await asyncio.sleep(0.05)
            loading = [p.pid for p in multiprocessing.active_children() if p.name == "unspun-enrich"]
        assert state.abort_loading()
        await asyncio.wait_for(load, timeout=60)
        assert kit.wait_gone(loading, timeout_s=30) == []
        assert unrelated.is_alive()
    finally:
        state.abort_loading()
        unrelated.kill()
        unrelated.join(timeout=10)
    assert state.enricher is None and state.enricher_error is None
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "model loading stopped: the worker is stopping" in caplog.text


def test_ctrl_c_on_the_embedded_broker_says_how_many_messages_were_left(kit, tmp_path):
    from workers.stream.broker import free_port

    port = free_port()
    env = {"UNSPUN_EMBEDDED_BROKER_PORT": str(port), "UNSPUN_PARTITIONS": "2", "UNSPUN_LOG_LEVEL": "INFO"}
    worker = kit.launch_worker(env, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        settings = kit.settings_for(dict(env, KAFKA_BROKER=f"kafka://127.0.0.1:{port}"))
        n = 400
        messages = [(f"e{i}".encode(), orjson.dumps({"id": f"e{i}", "text": f"{TEXT} Item {i}."})) for i in range(n)]
        kit.produce(settings, settings.input_topic, messages)
        assert kit.consume(settings, [settings.enriched_topic], expected=1, timeout_s=60, settle_s=0)
        worker.proc.send_signal(signal.SIGINT)
        code = worker.proc.wait(timeout=60)
    finally:
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    found = re.search(r"unspun: stopped the embedded broker, which keeps messages in memory only: (\d+) messages of (\S+) "
                      r"were not processed yet \(lag at exit\) and are gone", log)
    join_s = _join_seconds(log)
    print(f"\nembedded broker: group join {join_s:.1f} s; Ctrl-C: exit {code}; {found.group(0) if found else log[-2000:]}")
    assert join_s < JOIN_BOUND_S, join_s
    assert code == 0, log[-3000:]
    assert found, log[-3000:]
    assert 0 < int(found.group(1)) <= n and found.group(2) == "articles"
