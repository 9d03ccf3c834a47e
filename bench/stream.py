"""Stream path benchmark: the full worker against the embedded broker, with the transport floor.

One run, one embedded broker (Tansu, memory storage), the article set of ``bench/articles.py``:

1. ``one_worker``: one ``unspun worker`` process on a 4-partition input topic. After a warm-up burst:
   * ``max``: a burst of ``N`` articles produced as fast as possible; throughput = N / (last enriched
     event's emit time - first article's produce time);
   * ``load_25`` / ``load_50`` / ``load_75``: articles produced at a fixed rate (that share of the max
     throughput above) for ``D`` seconds, evenly spaced.
2. ``passthrough``: the raw aiokafka consume-then-produce loop of ``bench/passthrough.py`` on its own
   topics, with the same burst and with the ``load_50`` rate (the transport floor).
3. ``two_workers``: two worker processes in one consumer group on a fresh 4-partition topic, same
   warm-up and burst as ``max``.
4. with ``--what-if``: the ``load_50`` rate again with the consumer fetch wait at Faust's built-in
   1500 ms (``fetch_wait_1500ms``), and a ``tuned`` worker (``TUNED_ENV``: 5 ms batch timeout, 20 ms
   fetch wait) with the burst and the ``load_50`` rate.

Latency per article: Kafka timestamp of the enriched event (set by the worker's producer when it sends
the event) minus the Kafka timestamp of the input message (set by this benchmark when it produced the
article); also the time until this benchmark's consumer received the event (``delivered``). Per-stage
latency comes from the worker's ``unspun_stage_duration_seconds`` histograms (scraped from ``/metrics``
before and after each phase; quantiles interpolated within buckets). Memory: the worker's resident set
and its child processes (the models may run in a child): proportional set size (``Pss``, shared pages
split between the processes that share them) and resident set (``VmRSS``) summed over the process
tree, sampled every 0.25 s from ``/proc``; CPU time is also summed over the tree.

    python bench/stream.py [--quick] [--shared] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import orjson  # noqa: E402

import articles as article_set  # noqa: E402

PARTITIONS = 4
SESSION_TIMEOUT_S = 6
#: Worker settings of the "tuned" comparison run (``--what-if``): batches do not wait to fill at low
#: load, and the consumer asks the broker to answer a fetch after at most 20 ms.
TUNED_ENV = {"UNSPUN_BATCH_TIMEOUT_S": "0.005", "UNSPUN_FETCH_MAX_WAIT_MS": "20"}


# --------------------------------------------------------------------------------------------- numbers


def quantiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max/mean of ``values`` (nearest-rank), rounded; None when empty."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None, "n": 0}
    s = sorted(values)

    def rank(q: float) -> float:
        return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]

    return {
        "p50": round(rank(0.50), 2), "p95": round(rank(0.95), 2), "p99": round(rank(0.99), 2),
        "max": round(s[-1], 2), "mean": round(statistics.fmean(s), 2), "n": len(s),
    }


def parse_histograms(text: str) -> dict[str, dict[str, Any]]:
    """``{series: {"buckets": {le: count}, "sum": s, "count": c}}`` of the histograms in a /metrics body.

    Series names are ``metric`` or ``metric{label=value}`` (labels other than ``le``).
    """
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            series = family.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else "")
            h = out.setdefault(series, {"buckets": {}, "sum": 0.0, "count": 0.0})
            if sample.name.endswith("_bucket"):
                h["buckets"][float(sample.labels["le"])] = sample.value
            elif sample.name.endswith("_sum"):
                h["sum"] = sample.value
            elif sample.name.endswith("_count"):
                h["count"] = sample.value
    return out


def histogram_delta(before: dict, after: dict) -> dict[str, dict[str, Any]]:
    """``after - before`` per series (a worker's scrapes around a phase); missing ``before`` = zero."""
    out = {}
    for series, h in after.items():
        b = before.get(series, {"buckets": {}, "sum": 0.0, "count": 0.0})
        out[series] = {
            "buckets": {le: c - b["buckets"].get(le, 0.0) for le, c in h["buckets"].items()},
            "sum": h["sum"] - b["sum"],
            "count": h["count"] - b["count"],
        }
    return out


def histogram_add(a: dict, b: dict) -> dict:
    """Sum of two histogram dicts (two workers' deltas)."""
    out = {}
    for series in set(a) | set(b):
        x = a.get(series, {"buckets": {}, "sum": 0.0, "count": 0.0})
        y = b.get(series, {"buckets": {}, "sum": 0.0, "count": 0.0})
        les = set(x["buckets"]) | set(y["buckets"])
        out[series] = {
            "buckets": {le: x["buckets"].get(le, 0.0) + y["buckets"].get(le, 0.0) for le in les},
            "sum": x["sum"] + y["sum"],
            "count": x["count"] + y["count"],
        }
    return out


def histogram_summary(h: dict[str, Any], scale: float = 1000.0) -> dict[str, float | None]:
    """Mean and p50/p95/p99 (linear within buckets, as PromQL's histogram_quantile) times ``scale``."""
    count = h["count"]
    if count <= 0:
        return {"mean": None, "p50": None, "p95": None, "p99": None, "n": 0}
    les = sorted(h["buckets"])

    def q(p: float) -> float | None:
        target = p * count
        prev_le, prev_c = 0.0, 0.0
        for le in les:
            c = h["buckets"][le]
            if c >= target:
                if le == float("inf"):
                    return prev_le * scale  # beyond the last finite bucket: its bound (a lower bound)
                frac = 0.0 if c == prev_c else (target - prev_c) / (c - prev_c)
                return (prev_le + (le - prev_le) * frac) * scale
            prev_le, prev_c = le, c
        return None

    return {
        "mean": round(h["sum"] / count * scale, 2),
        "p50": round(q(0.50), 2), "p95": round(q(0.95), 2), "p99": round(q(0.99), 2), "n": int(count),
    }


def stage_summary(delta: dict) -> dict[str, dict]:
    """Per-stage (decode, restore, ner, produce), end-to-end and batch-size summaries of a phase."""
    out = {}
    for series, h in sorted(delta.items()):
        if series.startswith("unspun_stage_duration_seconds{stage="):
            out[series.split("=", 1)[1].rstrip("}")] = histogram_summary(h)
        elif series == "unspun_end_to_end_latency_seconds":
            out["end_to_end(metric)"] = histogram_summary(h)
        elif series == "unspun_batch_size":
            s = histogram_summary(h, scale=1.0)
            out["batch_size"] = {"mean": s["mean"], "n": s["n"]}
    return out


# --------------------------------------------------------------------------------------------- processes


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def proc_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (the worker may run its models in child processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            f = _stat_fields(int(entry.name))
            if f:
                children.setdefault(int(f[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def proc_memory(pid: int) -> dict[str, int]:
    """Memory of ``pid`` and its descendants, bytes, from /proc: ``VmRSS`` summed (pages shared
    between them counted once per process), ``Pss`` summed (shared pages split between their users:
    what the tree really occupies), ``VmHWM`` of ``pid`` itself, and ``processes``; {} if unreadable."""
    out = {"VmRSS": 0, "Pss": 0, "processes": 0}
    for p in proc_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out["VmRSS"] += int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:") and p == pid:
                    out["VmHWM"] = int(line.split()[1]) * 1024
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    out["Pss"] += int(line.split()[1]) * 1024
            out["processes"] += 1
        except (OSError, ValueError, IndexError):
            continue
    return out if out["processes"] else {}


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and its descendants, with their reaped children; None if unreadable."""
    total, seen = 0, False
    for p in proc_tree(pid):
        f = _stat_fields(p)
        if f:
            total += sum(int(x) for x in f[11:15])  # utime, stime, cutime, cstime
            seen = True
    return total / os.sysconf("SC_CLK_TCK") if seen else None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def worker_command() -> tuple[list[str], str]:
    """The command that runs ``unspun worker``, and a label for it.

    The ``unspun`` entry point beside this interpreter if the project is installed; else
    ``python -m workers.cli worker`` from the source tree; else (before the CLI exists) the
    worker's own entry function ``workers.stream.app.run_worker``.
    """
    exe = shutil.which("unspun", path=str(Path(sys.executable).parent))
    if exe:
        return [exe, "worker"], "unspun worker"
    if (ROOT / "workers" / "cli.py").exists():
        return [sys.executable, "-m", "workers.cli", "worker"], "python -m workers.cli worker"
    code = "from workers.settings import get_settings; from workers.stream.app import run_worker; run_worker(get_settings())"
    return [sys.executable, "-c", code], "workers.stream.app.run_worker (no CLI yet)"


@dataclass
class Topics:
    input: str
    enriched: str
    dlq: str

    @classmethod
    def fresh(cls, tag: str) -> "Topics":
        suffix = uuid.uuid4().hex[:6]
        return cls(f"bench-{tag}-in-{suffix}", f"bench-{tag}-out-{suffix}", f"bench-{tag}-dlq-{suffix}")


class Process:
    """A benchmarked subprocess (worker or passthrough) with its log file and memory samples."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            cmd, env=env, cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._log, start_new_session=True,
        )
        self.peak_rss = 0
        self.peak_pss = 0
        self.pss_samples: list[int] = []
        self.processes = 0
        self.started = time.monotonic()

    def sample_memory(self) -> None:
        m = proc_memory(self.proc.pid)
        if m:
            self.pss_samples.append(m["Pss"])
            self.peak_rss = max(self.peak_rss, m["VmRSS"])
            self.peak_pss = max(self.peak_pss, m["Pss"])
            self.processes = max(self.processes, m["processes"])

    def memory(self) -> dict[str, float]:
        """Memory of the process and its children, MiB (sampled every 0.25 s while it ran)."""
        self.sample_memory()
        mib = 1024 * 1024
        return {
            "pss_mib_median": round(statistics.median(self.pss_samples) / mib, 1) if self.pss_samples else None,
            "pss_mib_peak": round(self.peak_pss / mib, 1),
            "rss_mib_peak": round(self.peak_rss / mib, 1),
            "processes": self.processes,
        }

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid) or 0.0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


class Worker(Process):
    """One ``unspun worker`` subprocess with its metrics port."""

    def __init__(self, name: str, broker_url: str, topics: Topics, app_id: str, log_dir: Path, extra_env=None,
                 command: tuple[list[str], str] | None = None):
        from workers.stream.broker import free_port

        self.metrics_port = free_port()
        env = dict(os.environ)
        env.update({
            "KAFKA_BROKER": broker_url,
            "UNSPUN_APP_ID": app_id,
            "UNSPUN_INPUT_TOPIC": topics.input,
            "UNSPUN_ENRICHED_TOPIC": topics.enriched,
            "UNSPUN_DLQ_TOPIC": topics.dlq,
            "UNSPUN_PARTITIONS": str(PARTITIONS),
            "UNSPUN_METRICS_PORT": str(self.metrics_port),
            "UNSPUN_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
            "UNSPUN_HEARTBEAT_INTERVAL_S": "1",
            "UNSPUN_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        })
        env.update(extra_env or {})
        cmd, self.command_label = command or worker_command()
        super().__init__(name, cmd, env, log_dir)

    async def get(self, session, path: str) -> tuple[int, bytes]:
        async with session.get(f"http://127.0.0.1:{self.metrics_port}{path}") as r:
            return r.status, await r.read()

    async def ready(self, session) -> list[int] | None:
        """Assigned input partitions when /ready says ready, else None."""
        try:
            status, body = await self.get(session, "/ready")
        except Exception:  # noqa: BLE001 - not listening yet
            return None
        if status != 200:
            return None
        return list(orjson.loads(body).get("partitions", []))

    async def histograms(self, session) -> dict:
        status, body = await self.get(session, "/metrics")
        return parse_histograms(body.decode())


# --------------------------------------------------------------------------------------------- kafka


async def create_topics(bootstrap: str, topics: list[str], partitions: int = PARTITIONS) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    finally:
        await admin.close()


class Collector:
    """Reads the output topics from the beginning and records, per key, the record's Kafka timestamp
    (seconds), when it arrived here, and which topic it came from."""

    def __init__(self, bootstrap: str, topics: list[str]):
        self.bootstrap = bootstrap
        self.topics = topics
        self.seen: dict[bytes, tuple[float, float, str]] = {}
        self.timestamp_types: set[int] = set()
        self._task: asyncio.Task | None = None
        self._waiters: list[tuple[set[bytes], asyncio.Event]] = []

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        await self.consumer.start()
        tps = []
        for topic in self.topics:
            parts = None
            while parts is None:
                await self.consumer._client.force_metadata_update()  # noqa: SLF001 - new topic
                parts = self.consumer.partitions_for_topic(topic)
                if parts is None:
                    await asyncio.sleep(0.2)
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=50, max_records=1000)
            now = time.time()
            for records in batch.values():
                for r in records:
                    self.seen[r.key] = (r.timestamp / 1000.0, now, r.topic)
                    self.timestamp_types.add(r.timestamp_type)
            if batch:
                for keys, event in self._waiters:
                    if not event.is_set() and keys.issubset(self.seen.keys()):
                        event.set()

    async def wait_for(self, keys: set[bytes], timeout: float) -> bool:
        event = asyncio.Event()
        if keys.issubset(self.seen.keys()):
            return True
        self._waiters.append((keys, event))
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._waiters.remove((keys, event))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()


class Feeder:
    """Produces benchmark articles (unique id and key per message) with their produce timestamps."""

    def __init__(self, bootstrap: str, articles: list[dict]):
        self.bootstrap = bootstrap
        self.articles = articles
        self.counter = 0

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=0)
        await self.producer.start()

    def _message(self, tag: str) -> tuple[bytes, bytes, dict]:
        a = self.articles[self.counter % len(self.articles)]
        self.counter += 1
        msg = dict(a, id=f"{tag}-{self.counter:06d}-{a['id']}")
        return msg["id"].encode(), orjson.dumps(msg), a

    async def send(self, topic: str, tag: str, count: int, rate: float | None) -> dict[bytes, tuple[float, int]]:
        """Send ``count`` articles; ``rate`` per second evenly spaced, or None for as fast as possible.

        Returns key -> (produce timestamp in seconds, words).
        """
        sent: dict[bytes, tuple[float, int]] = {}
        futures = []
        t0 = time.monotonic()
        for i in range(count):
            if rate:
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            key, value, a = self._message(tag)
            ts_ms = int(time.time() * 1000)
            futures.append(await self.producer.send(topic, value=value, key=key, timestamp_ms=ts_ms))
            sent[key] = (ts_ms / 1000.0, a["meta"]["words"])
        await asyncio.gather(*futures)
        return sent

    async def stop(self) -> None:
        await self.producer.stop()


@dataclass
class PhaseResult:
    name: str
    offered_rate: float | None
    sent: int
    received: int
    dead_letters: int
    seconds: float
    articles_per_s: float
    words_per_s: float
    latency_ms: dict
    delivered_ms: dict
    stages: dict = field(default_factory=dict)
    process_cpu_s: float | None = None
    articles_per_cpu_s: float | None = None
    cpu_ms_per_article: float | None = None
    load_average: list[float] | None = None
    latencies: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return self.__dict__


async def run_phase(
    name: str, feeder: Feeder, collector: Collector, topic: str, count: int, rate: float | None,
    timeout: float, dlq_topic: str | None = None, procs: list[Process] | None = None,
) -> PhaseResult:
    """Send ``count`` articles and wait for their outputs; ``procs``: processes whose CPU time to charge."""
    cpu0 = sum(p.cpu_seconds() for p in procs or [])
    sent = await feeder.send(topic, name, count, rate)
    ok = await collector.wait_for(set(sent), timeout)
    cpu = sum(p.cpu_seconds() for p in procs or []) - cpu0
    got = {k: collector.seen[k] for k in sent if k in collector.seen}
    if not ok:
        print(f"  [{name}] timed out: {len(got)}/{len(sent)} outputs", file=sys.stderr)
    latencies = [(got[k][0] - sent[k][0]) * 1000 for k in got]
    delivered = [(got[k][1] - sent[k][0]) * 1000 for k in got]
    first_in = min(ts for ts, _ in sent.values())
    last_out = max((v[0] for v in got.values()), default=first_in)
    span = max(1e-6, last_out - first_in)
    words = sum(sent[k][1] for k in got)
    return PhaseResult(
        name=name,
        offered_rate=round(rate, 3) if rate else None,
        sent=len(sent),
        received=len(got),
        dead_letters=sum(1 for v in got.values() if dlq_topic and v[2] == dlq_topic),
        seconds=round(span, 3),
        articles_per_s=round(len(got) / span, 2),
        words_per_s=round(words / span, 1),
        latency_ms=quantiles(latencies),
        delivered_ms=quantiles(delivered),
        latencies=[round(x, 1) for x in latencies],
        process_cpu_s=round(cpu, 2) if procs else None,
        articles_per_cpu_s=round(len(got) / cpu, 2) if procs and cpu > 0 else None,
        cpu_ms_per_article=round(1000 * cpu / len(got), 1) if procs and got else None,
        load_average=load_average(),
    )


async def wait_ready(workers: list[Worker], session, timeout: float) -> dict[str, list[int]]:
    """Wait until every worker is ready and together they own every input partition."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in workers:
            if not w.alive():
                raise RuntimeError(f"{w.name} exited (code {w.proc.returncode}):\n{w.log_tail()}")
        parts = {w.name: await w.ready(session) for w in workers}
        if all(p for p in parts.values()):
            union = sorted(x for p in parts.values() for x in p)
            if union == list(range(PARTITIONS)):
                return parts  # type: ignore[return-value]
        await asyncio.sleep(0.25)
    raise RuntimeError("workers not ready in time:\n" + "\n".join(w.log_tail() for w in workers))


async def sample_memory_forever(procs: list[Process]) -> None:
    while True:
        for p in procs:
            p.sample_memory()
        await asyncio.sleep(0.25)


async def scrape(workers: list[Worker], session) -> list[dict]:
    return [await w.histograms(session) for w in workers]


def stages_between(before: list[dict], after: list[dict]) -> dict:
    total: dict = {}
    for b, a in zip(before, after):
        total = histogram_add(total, histogram_delta(b, a))
    return stage_summary(total)


# --------------------------------------------------------------------------------------------- sessions


@dataclass
class Plan:
    burst: int
    warmup: int
    load_seconds: float
    loads: tuple[float, ...] = (0.25, 0.50, 0.75)


async def worker_session(
    tag: str, n_workers: int, broker, articles: list[dict], plan: Plan, log_dir: Path, with_loads: bool,
    command: tuple[list[str], str] | None = None, only_rate: float | None = None, extra_env: dict | None = None,
    rate_after_burst: float | None = None,
) -> dict:
    """Start ``n_workers`` workers on fresh topics, warm up, run the burst (and the loads).

    ``only_rate``: skip the burst and run one fixed load at this rate (named ``load_50``);
    ``rate_after_burst``: after the burst, one fixed load at this rate (named ``load_50``);
    ``extra_env``: settings for the workers (e.g. ``UNSPUN_BATCH_TIMEOUT_S``).
    """
    import aiohttp

    topics = Topics.fresh(tag)
    await create_topics(broker.bootstrap, [topics.input, topics.enriched, topics.dlq])
    app_id = f"bench-{tag}-{uuid.uuid4().hex[:6]}"
    t_start = time.monotonic()
    workers = [Worker(f"{tag}-{i}", broker.url, topics, app_id, log_dir, extra_env=extra_env, command=command)
               for i in range(n_workers)]
    sampler = asyncio.create_task(sample_memory_forever(workers))
    collector = Collector(broker.bootstrap, [topics.enriched, topics.dlq])
    feeder = Feeder(broker.bootstrap, articles)
    result: dict[str, Any] = {"workers": n_workers, "command": workers[0].command_label, "topics": topics.__dict__,
                              "env": extra_env or {}}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await collector.start()
            await feeder.start()
            parts = await wait_ready(workers, session, timeout=180)
            result["startup_s"] = round(time.monotonic() - t_start, 2)
            result["partitions"] = parts
            warm = await run_phase("warmup", feeder, collector, topics.input, plan.warmup, None, 180, topics.dlq)
            result["warmup"] = {k: v for k, v in warm.to_dict().items() if k != "latencies"}
            # CPU the idle worker burns (fetch polling, timers, metrics): charged to every article at low load.
            cpu0 = sum(w.cpu_seconds() for w in workers)
            await asyncio.sleep(2.0)
            result["idle_cpu_percent"] = round(100 * (sum(w.cpu_seconds() for w in workers) - cpu0) / 2.0 / n_workers, 1)
            phases: list[PhaseResult] = []
            if only_rate:
                count = max(10, int(round(only_rate * plan.load_seconds)))
                before = await scrape(workers, session)
                ph = await run_phase("load_50", feeder, collector, topics.input, count, only_rate,
                                     plan.load_seconds * 2 + 60, topics.dlq, workers)
                ph.stages = stages_between(before, await scrape(workers, session))
                result["phases"] = {"load_50": ph.to_dict()}
                result["memory"] = {w.name: w.memory() for w in workers}
                return result
            before = await scrape(workers, session)
            burst = await run_phase("max", feeder, collector, topics.input, plan.burst, None, 60 + plan.burst, topics.dlq,
                                   workers)
            after = await scrape(workers, session)
            burst.stages = stages_between(before, after)
            phases.append(burst)
            if rate_after_burst and not with_loads:
                count = max(10, int(round(rate_after_burst * plan.load_seconds)))
                before = await scrape(workers, session)
                ph = await run_phase("load_50", feeder, collector, topics.input, count, rate_after_burst,
                                     plan.load_seconds * 2 + 60, topics.dlq, workers)
                ph.stages = stages_between(before, await scrape(workers, session))
                phases.append(ph)
            if with_loads:
                max_rate = burst.articles_per_s
                for share in plan.loads:
                    rate = max_rate * share
                    count = max(10, int(round(rate * plan.load_seconds)))
                    before = await scrape(workers, session)
                    ph = await run_phase(
                        f"load_{int(share * 100)}", feeder, collector, topics.input, count, rate,
                        plan.load_seconds * 2 + 60, topics.dlq, workers,
                    )
                    after = await scrape(workers, session)
                    ph.stages = stages_between(before, after)
                    phases.append(ph)
            for w in workers:
                w.sample_memory()
            result["phases"] = {p.name: p.to_dict() for p in phases}
            result["memory"] = {w.name: w.memory() for w in workers}
            result["timestamp_types"] = sorted(collector.timestamp_types)
            for w in workers:
                if not w.alive():
                    result.setdefault("errors", []).append(f"{w.name} exited: {w.log_tail()}")
    finally:
        sampler.cancel()
        await asyncio.gather(collector.stop(), feeder.stop(), return_exceptions=True)
        for w in workers:
            w.stop()
    return result


async def passthrough_session(broker, articles: list[dict], plan: Plan, rate_50: float | None, log_dir: Path) -> dict:
    topics = Topics.fresh("passthrough")
    await create_topics(broker.bootstrap, [topics.input, topics.enriched])
    cmd = [sys.executable, str(ROOT / "bench" / "passthrough.py"), "--bootstrap", broker.bootstrap,
           "--input", topics.input, "--output", topics.enriched]
    proc = Process("passthrough", cmd, dict(os.environ), log_dir)
    collector = Collector(broker.bootstrap, [topics.enriched])
    feeder = Feeder(broker.bootstrap, articles)
    result: dict[str, Any] = {}
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.proc.stdout.readline), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"passthrough did not start: {line!r} {proc.log_tail()}")
        await collector.start()
        await feeder.start()
        await run_phase("warmup", feeder, collector, topics.input, plan.warmup, None, 60)
        phases = [await run_phase("max", feeder, collector, topics.input, plan.burst, None, 120, None, [proc])]
        if rate_50:
            count = max(10, int(round(rate_50 * plan.load_seconds)))
            phases.append(await run_phase("load_50", feeder, collector, topics.input, count, rate_50,
                                          plan.load_seconds * 2 + 60, None, [proc]))
        proc.sample_memory()
        result["phases"] = {p.name: p.to_dict() for p in phases}
        result["memory"] = {"passthrough": proc.memory()}
    finally:
        await asyncio.gather(collector.stop(), feeder.stop(), return_exceptions=True)
        proc.stop()
    return result


async def run(quick: bool, shared: bool, n_articles: int | None = None, what_if: bool = False) -> dict:
    from workers.stream.broker import EmbeddedBroker

    plan = Plan(burst=64, warmup=32, load_seconds=5.0) if quick else Plan(burst=320, warmup=64, load_seconds=30.0)
    articles = article_set.generate(n_articles or (32 if quick else 64), shared=shared)
    log_dir = Path(tempfile.mkdtemp(prefix="unspun-bench-"))
    from workers.settings import Settings

    out: dict[str, Any] = {"plan": plan.__dict__, "articles": article_set.describe(articles), "log_dir": str(log_dir),
                           "cpu_count": os.cpu_count(),
                           "worker_settings": {k: getattr(Settings(), k, None) for k in
                                               ("batch_size", "batch_timeout_s", "fetch_max_wait_ms", "article_timeout_s")}}
    with EmbeddedBroker(log_path=log_dir / "broker.log") as broker:
        broker_proc = broker._proc  # noqa: SLF001 - only for its memory figure
        t0 = time.monotonic()
        out["one_worker"] = await worker_session("one", 1, broker, articles, plan, log_dir, with_loads=True)
        print(f"  one worker: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        rate_50 = out["one_worker"]["phases"].get("load_50", {}).get("offered_rate")
        t0 = time.monotonic()
        out["passthrough"] = await passthrough_session(broker, articles, plan, rate_50, log_dir)
        print(f"  passthrough: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        t0 = time.monotonic()
        out["two_workers"] = await worker_session("two", 2, broker, articles, plan, log_dir, with_loads=False)
        print(f"  two workers: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        if what_if and rate_50:
            # The same 50% load with the consumer's fetch wait at Faust's built-in 1500 ms (what the
            # worker used before UNSPUN_FETCH_MAX_WAIT_MS existed): what that setting buys in latency.
            t0 = time.monotonic()
            out["fetch_wait_1500ms"] = await worker_session(
                "fetch1500", 1, broker, articles, plan, log_dir, with_loads=False, only_rate=rate_50,
                extra_env={"UNSPUN_FETCH_MAX_WAIT_MS": "1500"})
            print(f"  fetch wait 1500 ms: {time.monotonic() - t0:.1f} s", file=sys.stderr)
            # Latency-tuned settings: no 50 ms wait to fill a batch at low load, a short fetch wait.
            t0 = time.monotonic()
            out["tuned"] = await worker_session(
                "tuned", 1, broker, articles, plan, log_dir, with_loads=False, rate_after_burst=rate_50,
                extra_env=TUNED_ENV)
            print(f"  tuned settings: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        if broker_proc is not None:
            m = proc_memory(broker_proc.pid)
            out["broker_rss_mib_peak"] = round(m.get("VmHWM", 0) / 2**20, 1)  # tansu has no children
    one = out["one_worker"]["phases"]["max"]["articles_per_s"]
    two = out["two_workers"]["phases"]["max"]["articles_per_s"]
    pt = out["passthrough"]["phases"]["max"]["articles_per_s"]
    out["ratios"] = {
        "two_over_one_worker": round(two / one, 3) if one else None,
        "worker_over_passthrough": round(one / pt, 4) if pt else None,
    }
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description="Stream path benchmark: worker vs passthrough, loads, scaling.")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--shared", action="store_true", help="article text from ../shared/corpora")
    p.add_argument("--what-if", action="store_true",
                   help="also run the 50%% load with the fetch wait at Faust's 1500 ms, and with latency-tuned settings")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    result = asyncio.run(run(args.quick, args.shared, what_if=args.what_if))
    result["quick"] = args.quick
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    else:
        from report import stream_tables

        for t in stream_tables(result):
            t.print()
    return result


if __name__ == "__main__":
    main()
