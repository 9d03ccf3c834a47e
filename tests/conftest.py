"""Shared fixtures: one embedded Kafka-protocol broker per test session, Kafka helpers, and
real worker processes (``python -m workers.cli worker``) started against that broker.

Tests that share the broker keep apart by using their own topic names and consumer group
(see :func:`stream_env`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"


@dataclass
class ExternalBroker:
    """A broker started outside the test session (CI starts one and exports UNSPUN_TEST_BROKER)."""

    url: str

    @property
    def bootstrap(self) -> str:
        return self.url.split("://", 1)[-1]

    @property
    def host(self) -> str:
        return self.bootstrap.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.bootstrap.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def broker():
    """The session's broker: ``UNSPUN_TEST_BROKER`` (e.g. ``kafka://127.0.0.1:9092``) when set,
    else an embedded broker (tansu, memory only) started once for the session."""
    external = os.environ.get("UNSPUN_TEST_BROKER", "").strip()
    if external:
        yield ExternalBroker(external if "://" in external else f"kafka://{external}")
        return
    from workers.stream.broker import EmbeddedBroker

    with EmbeddedBroker() as b:
        yield b


def stream_env(broker, **extra: str) -> dict[str, str]:
    """Environment for a worker or CLI run on ``broker`` with fresh topic names and group.

    Group joins on the embedded broker take about half the session timeout, hence 6 s.
    """
    tag = uuid.uuid4().hex[:8]
    env = {
        "KAFKA_BROKER": broker.url,
        "UNSPUN_APP_ID": f"unspun-test-{tag}",
        "UNSPUN_INPUT_TOPIC": f"articles-{tag}",
        "UNSPUN_ENRICHED_TOPIC": f"articles-{tag}.enriched",
        "UNSPUN_DLQ_TOPIC": f"articles-{tag}.dlq",
        "UNSPUN_PARTITIONS": "2",
        "UNSPUN_SESSION_TIMEOUT_S": "6",
        "UNSPUN_HEARTBEAT_INTERVAL_S": "1",
        "UNSPUN_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def settings_for(env: dict[str, str]):
    """A Settings object built from ``env`` alone (the caller's UNSPUN_* variables are ignored)."""
    from workers.settings import Settings

    saved = {k: v for k, v in os.environ.items() if k.startswith("UNSPUN_") or k == "KAFKA_BROKER"}
    try:
        for k in saved:
            del os.environ[k]
        os.environ.update(env)
        return Settings()
    finally:
        for k in env:
            os.environ.pop(k, None)
        os.environ.update(saved)


@dataclass
class Record:
    """A consumed Kafka record with its value parsed as JSON (None when it is not JSON)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    json: object = field(default=None)


def produce(settings, topic: str, messages, partition: int | None = None) -> list:
    """Send ``(key, value)`` byte pairs in order, or ``(key, value, timestamp_ms)`` to set the
    Kafka timestamp; return their RecordMetadata (offsets, timestamps)."""
    from aiokafka import AIOKafkaProducer

    from workers.stream.kafka import client_kwargs

    async def run():
        producer = AIOKafkaProducer(acks="all", **client_kwargs(settings))
        await producer.start()
        try:
            futures = [
                await producer.send(topic, value=m[1], key=m[0], partition=partition, timestamp_ms=(m[2:] or [None])[0])
                for m in messages
            ]
            return [await f for f in futures]
        finally:
            await producer.stop()

    return asyncio.run(run())


def consume(
    settings, topics: list[str], expected: int = 0, timeout_s: float = 60.0, settle_s: float = 1.0, keys: set = frozenset()
) -> list[Record]:
    """Read ``topics`` from the beginning until ``expected`` records arrived and a record with each
    key in ``keys`` (then ``settle_s`` more seconds, to catch extra ones) or ``timeout_s`` passed;
    return them all."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from workers.stream.kafka import client_kwargs

    async def run():
        consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **client_kwargs(settings))
        await consumer.start()
        try:
            tps = []
            for topic in topics:
                parts = None
                for _ in range(50):
                    parts = consumer.partitions_for_topic(topic)
                    if parts:
                        break
                    await consumer._client.force_metadata_update()
                    await asyncio.sleep(0.1)
                tps += [TopicPartition(topic, p) for p in sorted(parts or {0})]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            records: list[Record] = []
            seen = set()
            deadline = time.monotonic() + timeout_s
            settle_until = None
            while time.monotonic() < deadline:
                if settle_until is None and len(records) >= expected and keys <= seen:
                    settle_until = time.monotonic() + settle_s
                if settle_until is not None and time.monotonic() > settle_until:
                    break
                batch = await consumer.getmany(timeout_ms=200)
                for rs in batch.values():
                    for r in rs:
                        try:
                            parsed = json.loads(r.value) if r.value is not None else None
                        except ValueError:
                            parsed = None
                        records.append(Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, parsed))
                        seen.add(r.key)
            return records
        finally:
            await consumer.stop()

    return asyncio.run(run())


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET http://127.0.0.1:port/path; returns (status, body text)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def run_cli(env: dict[str, str], *args: str, timeout: float, dev: bool = False, input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m workers.cli *args`` with ``env`` (see :func:`subprocess_env`), in Python's
    development mode (``-X dev``) when ``dev``, with ``input`` on stdin, to the end or ``timeout``
    (TimeoutExpired); returns the finished process with its output as text."""
    return subprocess.run(
        [sys.executable, *(["-X", "dev"] if dev else []), "-m", "workers.cli", *args],
        env=subprocess_env(env),
        cwd=str(REPO),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class WorkerProcess:
    """A running ``unspun worker`` subprocess: its env, settings, metrics port and log file."""

    proc: subprocess.Popen
    env: dict[str, str]
    settings: object
    metrics_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = http_get(self.metrics_port, "/ready", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout_s} s:\n{self.log()}")

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def subprocess_env(env: dict[str, str]) -> dict[str, str]:
    """The current environment without UNSPUN_*/KAFKA_BROKER, plus ``env``, with the repo importable."""
    base = {k: v for k, v in os.environ.items() if not (k.startswith("UNSPUN_") or k == "KAFKA_BROKER")}
    base.update(env)
    base["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return base


def launch_worker(env: dict[str, str], log_path: Path) -> WorkerProcess:
    """Run ``python -m workers.cli worker`` with ``env`` on a free metrics port, its output to
    ``log_path``; returns the :class:`WorkerProcess` (not yet waited for, nor stopped by anyone)."""
    from workers.stream.broker import free_port

    port = free_port()
    full = dict(env, UNSPUN_METRICS_PORT=str(port))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            env=subprocess_env(full),
            cwd=str(REPO),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(proc, full, settings_for(full), port, log_path)


@pytest.fixture
def start_worker(tmp_path):
    """Factory: ``start_worker(env)`` is :func:`launch_worker` with a log file in ``tmp_path``; all
    the workers it started are stopped at teardown."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str]) -> WorkerProcess:
        worker = launch_worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


class TcpProxy:
    """A TCP proxy on ``127.0.0.1:port`` to ``127.0.0.1:target_port`` that can be cut: :meth:`cut`
    closes every connection and the listening socket (clients then get "connection refused", as
    from a broker that is down), :meth:`restore` listens again on the same port."""

    def __init__(self, port: int, target_port: int) -> None:
        self.port, self.target_port = port, target_port
        self._sockets: set = set()
        self._listener = None
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        for sock in [listener, *sockets]:
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def descendants(pid: int) -> set[int]:
    """Process ids below ``pid`` (from /proc), recursively."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout_s: float) -> list[int]:
    """Wait until none of ``pids`` is alive or ``timeout_s`` passed; return those still alive."""
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.fixture(scope="session")
def schema_validator():
    """``schema_validator(name)`` -> a draft 2020-12 validator (with format checks) for schemas/<name>.json."""
    from jsonschema import Draft202012Validator

    cache = {}

    def get(name: str):
        if name not in cache:
            schema = json.loads((SCHEMAS / f"{name}.json").read_text())
            Draft202012Validator.check_schema(schema)
            cache[name] = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def kit():
    """The helper functions of this module, for test files (they cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        stream_env=stream_env,
        settings_for=settings_for,
        produce=produce,
        consume=consume,
        http_get=http_get,
        subprocess_env=subprocess_env,
        run_cli=run_cli,
        launch_worker=launch_worker,
        descendants=descendants,
        TcpProxy=TcpProxy,
        alive=alive,
        wait_gone=wait_gone,
        repo=REPO,
    )
