"""Soak benchmark: resident memory of a real worker (and its enrichment child) over thousands of
articles on the embedded broker. Not a timed test: it prints RSS over time and the slope.

Starts its own embedded broker and one ``unspun worker``, sends ``--n`` articles in chunks at a
steady pace, samples the RSS of the worker and of each of its child processes every
``--every`` seconds, and prints a table plus the least-squares slope of the total RSS against
articles processed, over the part after the warm-up (the first ``--warmup`` fraction of the
articles). A flat line (slope near 0 MB per 1000 articles) means memory is bounded.

    python bench/soak.py [--n 5000] [--words 120] [--chunk 200] [--every 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _family(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [pid], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _processed(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return -1
    total = 0.0
    for line in text.splitlines():
        if line.startswith("unspun_events_emitted_total ") or line.startswith("unspun_dead_letters_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--words", type=int, default=120)
    parser.add_argument("--chunk", type=int, default=200)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)

    import orjson

    from bench.articles import generate
    from workers.settings import Settings
    from workers.stream.broker import EmbeddedBroker, free_port
    from workers.stream.kafka import ensure_topics, send_messages

    base = generate(200, args.words)
    with EmbeddedBroker() as broker:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not (k.startswith("UNSPUN_") or k == "KAFKA_BROKER")}
        env.update(
            KAFKA_BROKER=broker.url, UNSPUN_APP_ID="unspun-soak", UNSPUN_METRICS_PORT=str(port),
            UNSPUN_SESSION_TIMEOUT_S="6", UNSPUN_HEARTBEAT_INTERVAL_S="1", UNSPUN_LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        settings = Settings(broker=broker.url)
        asyncio.run(ensure_topics(settings))
        log = tempfile.NamedTemporaryFile(prefix="unspun-soak-", suffix=".log", delete=False)  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "workers.cli", "worker"], env=env, cwd=str(ROOT),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"worker did not start; log: {log.name}")
                time.sleep(0.5)
            samples: list[tuple[float, int, float, list[float]]] = []
            sent = 0
            t0 = time.monotonic()
            next_sample = t0
            print(f"{'t s':>6} {'sent':>6} {'done':>6} {'worker MB':>10} {'child MB':>9} {'total MB':>9}")
            while time.monotonic() - t0 < args.timeout:
                done = _processed(port)
                if sent < args.n and done >= sent - args.chunk:  # keep about one chunk queued
                    msgs = []
                    for i in range(sent, min(args.n, sent + args.chunk)):
                        a = base[i % len(base)]
                        aid = f"soak-{i:06d}"
                        msgs.append((aid.encode(), orjson.dumps({"id": aid, "title": a.get("title"), "text": a["text"] + f" ({i})"})))
                    sent += asyncio.run(send_messages(settings, settings.input_topic, msgs))
                if time.monotonic() >= next_sample:
                    pids = _family(proc.pid)
                    rss = [_rss_mb(p) for p in pids]
                    samples.append((time.monotonic() - t0, done, rss[0], rss[1:]))
                    print(f"{samples[-1][0]:6.0f} {sent:6d} {done:6d} {rss[0]:10.1f} {sum(rss[1:]):9.1f} {sum(rss):9.1f}", flush=True)
                    next_sample += args.every
                if done >= args.n:
                    break
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    steady = [s for s in samples if s[1] >= args.warmup * args.n]
    xs = [s[1] / 1000 for s in steady]
    total = [s[2] + sum(s[3]) for s in steady]
    worker = [s[2] for s in steady]
    print(f"\narticles processed: {samples[-1][1] if samples else 0} of {args.n} in {samples[-1][0] if samples else 0:.0f} s")
    if steady:
        print(f"after warm-up ({len(steady)} samples): total RSS {min(total):.1f} .. {max(total):.1f} MB")
        print(f"slope, total RSS : {_slope(xs, total):+.2f} MB per 1000 articles")
        print(f"slope, worker RSS: {_slope(xs, worker):+.2f} MB per 1000 articles")


if __name__ == "__main__":
    main()
