"""The enrichment child process of the real worker on the real broker: an article that kills its
child once is tried again in a fresh one, one that kills it twice is a poison pill; the child is
replaced every UNSPUN_NER_RECYCLE_ARTICLES articles without losing or repeating any; and after a
``kill -9`` of the worker, its enrichment child and the forkserver are gone within seconds, even
with an article in flight.

One worker serves the whole module (the last test kills it). Test-only hooks of
``workers.stream.isolation``: UNSPUN_TEST_CRASH_MARKER makes the child SIGKILL itself on an article
(once only with ``:once``), UNSPUN_TEST_SLOW_MARKER makes it spin for ever on one.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter

import orjson
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TEXT = "The governor mentioned on Friday that Marisol Vega would lead the port authority."
CRASH = "CRASH-CHILD-5d1e"
SLOW = "SLOW-CHILD-88ab"
RECYCLE_EVERY = 12


@pytest.fixture(scope="module")
def worker(broker, kit, tmp_path_factory):
    env = kit.stream_env(
        broker,
        UNSPUN_TEST_CRASH_MARKER=CRASH,
        UNSPUN_TEST_SLOW_MARKER=SLOW,
        UNSPUN_NER_RECYCLE_ARTICLES=str(RECYCLE_EVERY),
        UNSPUN_ARTICLE_TIMEOUT_S="120",
    )
    w = kit.launch_worker(env, tmp_path_factory.mktemp("child") / "worker.log")
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def _article(key: str, extra: str = "") -> tuple[bytes, bytes]:
    return key.encode(), orjson.dumps({"id": key, "text": f"{TEXT} Item {key}. {extra}".strip()})


def _outputs(kit, worker, keys: set[bytes]):
    s = worker.settings
    records = kit.consume(s, [s.enriched_topic, s.dlq_topic], keys=keys, timeout_s=120, settle_s=2)
    return [r for r in records if r.key in keys]


def test_an_article_that_kills_the_child_once_is_retried_and_one_that_kills_it_twice_is_dead_lettered(kit, worker):
    s = worker.settings
    messages = [
        _article("p0"),
        _article("once", f"{CRASH}:once"),
        _article("p1"),
        _article("always", CRASH),
        _article("p2"),
    ]
    kit.produce(s, s.input_topic, messages, partition=0)
    records = _outputs(kit, worker, {k for k, _ in messages})
    counts = Counter(r.key for r in records)
    assert counts == Counter({k: 1 for k, _ in messages}), counts
    by_key = {r.key.decode(): r for r in records}
    for key in ("p0", "once", "p1", "p2"):
        assert by_key[key].topic == s.enriched_topic, (key, by_key[key].json)
    assert by_key["once"].json["id"] == "once" and by_key["once"].json["entities"]
    dead = by_key["always"]
    assert dead.topic == s.dlq_topic
    assert dead.json["kind"] == "processing_error" and "twice" in dead.json["reason"], dead.json
    log = worker.log_path.read_text(errors="replace")
    assert "trying it once more in a fresh process" in log


def test_the_child_is_recycled_every_n_articles_and_every_article_gets_one_event(kit, worker):
    s = worker.settings
    before = worker.log_path.read_text(errors="replace").count("recycling the enrichment process")
    messages = [_article(f"r{i:03d}") for i in range(3 * RECYCLE_EVERY)]
    for start in range(0, len(messages), RECYCLE_EVERY // 2):  # several batches
        kit.produce(s, s.input_topic, messages[start : start + RECYCLE_EVERY // 2])
    records = _outputs(kit, worker, {k for k, _ in messages})
    counts = Counter(r.key for r in records)
    assert counts == Counter({k: 1 for k, _ in messages}), counts
    assert all(r.topic == s.enriched_topic for r in records), [r.json for r in records if r.topic != s.enriched_topic]
    log = worker.log_path.read_text(errors="replace")
    recycles = re.findall(r"recycling the enrichment process after (\d+) articles", log)
    print(f"\nrecycles so far: {recycles}")
    assert len(recycles) > before, log[-3000:]
    assert all(int(n) >= RECYCLE_EVERY for n in recycles)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_children_and_forkserver_exit_when_the_worker_is_killed_mid_article(kit, worker):
    s = worker.settings
    kit.produce(s, s.input_topic, [_article("slow", SLOW)])
    # Wait until a child spins on the slow article (it uses CPU without end).
    deadline, busy = time.monotonic() + 60, None
    while busy is None and time.monotonic() < deadline:
        for pid in kit.descendants(worker.proc.pid):
            try:
                c0 = _cpu_seconds(pid)
                time.sleep(0.5)
                if _cpu_seconds(pid) - c0 > 0.2:
                    busy = pid
                    break
            except OSError:
                continue
    assert busy is not None, "no child got busy on the slow article"
    family = kit.descendants(worker.proc.pid)
    assert len(family) >= 2, family  # the forkserver and its child (and the resource tracker)
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait(timeout=10)
    t0 = time.monotonic()
    left = kit.wait_gone(family, 20)
    print(f"\nafter SIGKILL of the worker: {len(family)} processes below it gone in {time.monotonic() - t0:.1f} s")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running after the worker was killed: {left}"
