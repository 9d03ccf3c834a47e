"""The dashboard and the alert rules against a real Prometheus scraping the real worker.

A Prometheus server (Debian package ``prometheus``) runs on a free loopback port with the config of
``deploy/prometheus/prometheus.template.yml`` (1 s scrape and rule interval, the worker as target,
``alerts.yml`` as rules). ``unspun worker`` runs against the session's embedded broker; the bundled
sample articles and bad messages are sent through it. Once Prometheus has scraped the worker before
and after the traffic, every PromQL expression of the Grafana dashboard and of the alert rules is
evaluated through ``/api/v1/query`` (Grafana variables filled in by ``deploy_checks.for_api``).

Every dashboard query must return at least one series, and no series may be NaN (a panel with no
data, or only NaN, shows nothing in Grafana: that is a bug in the dashboard or in the metrics).

An alert expression is a condition: on a healthy worker most are false, and a false comparison
filters every series out, so an empty result is expected. An alert expression that returns nothing
is therefore checked part by part, and each part must return data (see ``alert_parts``):

* ``A and B`` / ``A unless B`` / ``A or B``: A and B are checked separately;
* ``X > 5`` (any comparison with a number): X, the value the threshold is applied to;
* ``absent(X)``: X (``absent`` returns data only when X has none);
* ``f(X[15m:1m])`` (a function over a subquery, e.g. ``deriv``): X, when ``f`` has too few
  subquery steps yet. A subquery steps at whole minutes and ``deriv`` needs two steps, which a
  Prometheus that has run for less than two minutes cannot have.

A query error is never excused: every expression, whole, must be accepted by Prometheus.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from string import Template

import httpx
import pytest

import deploy_checks

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PROMETHEUS = shutil.which("prometheus")
SAMPLES = deploy_checks.ROOT / "workers" / "samples"
GOOD = sorted(SAMPLES.glob("[0-9][0-9]-*.json"))
# Lines of bad-messages.raw, in order, and the dead-letter kind each one gets.
BAD_KINDS = ["schema_violation", "empty_text", "not_json"]
SCRAPE_INTERVAL = "1s"
OLD_S = 200  # age of the backlog article's Kafka timestamp, seconds
JOB = deploy_checks.SCRAPE_JOB
QUERIES = list(deploy_checks.all_queries())


# --- PromQL: top-level structure of an alert expression ------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SET_OP = re.compile(r"\b(and|or|unless)\b")
_COMPARISON = re.compile(r"==|!=|>=|<=|>|<")
_NUMBER = re.compile(r"\s*(?:bool\s+)?[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?\s*$", re.I)
_SUBQUERY = re.compile(r"\[\s*\d+[smhdwy]\s*:\s*\d+[smhdwy]\s*\]\s*$")


def _depths(expr: str) -> list[int]:
    """Bracket depth at each character of ``expr``; characters inside strings count as nested."""
    masked = _STRINGS.sub(lambda m: "\0" * len(m.group()), expr)
    depth, out = 0, []
    for ch in masked:
        if ch in "([{":
            depth += 1
        out.append(1 if ch == "\0" else depth)
        if ch in ")]}":
            depth -= 1
    return out


def _top_level(pattern: re.Pattern, expr: str) -> list[re.Match]:
    depths = _depths(expr)
    return [m for m in pattern.finditer(expr) if depths[m.start()] == 0]


def _unwrap_call(expr: str, names: tuple[str, ...] | None = None) -> tuple[str, str] | None:
    """``(function, argument)`` when ``expr`` is one call ``f(argument)`` (of ``names``, if given)."""
    m = re.match(r"\s*([a-zA-Z_]\w*)\s*\(", expr)
    if not m or (names is not None and m.group(1) not in names):
        return None
    depths = _depths(expr)
    end = len(expr.rstrip()) - 1
    opened = m.end() - 1
    # The call's parenthesis must close at the very end, and nowhere earlier.
    if expr[end] != ")" or any(d == 0 for d in depths[opened + 1 : end]):
        return None
    return m.group(1), expr[opened + 1 : end]


def alert_parts(expr: str) -> list[list[str]]:
    """For each operand of the top-level set operators: the expressions to try, most faithful first."""
    cuts = _top_level(_SET_OP, expr)
    bounds = [0] + [x for m in cuts for x in (m.start(), m.end())] + [len(expr)]
    operands = [expr[a:b].strip() for a, b in zip(bounds[::2], bounds[1::2])]
    parts = []
    for operand in operands:
        tries = [operand]
        comparisons = _top_level(_COMPARISON, operand)
        if comparisons and _NUMBER.fullmatch(operand[comparisons[-1].end() :]):
            tries.append(operand[: comparisons[-1].start()].strip())
        call = _unwrap_call(tries[-1], ("absent",))
        if call:
            tries.append(call[1].strip())
        call = _unwrap_call(tries[-1])
        if call and _SUBQUERY.search(call[1]):
            tries.append(_SUBQUERY.sub("", call[1]).strip())
        parts.append(tries)
    return parts


def test_alert_parts_reads_the_rule_shapes():
    assert alert_parts('up{job="unspun"} == 0') == [['up{job="unspun"} == 0', 'up{job="unspun"}']]
    assert alert_parts('absent(up{job="a and b"})') == [['absent(up{job="a and b"})', 'up{job="a and b"}']]
    assert alert_parts("sum(rate(a[10m])) > 0\nunless\nsum(rate(b[10m])) > 0") == [
        ["sum(rate(a[10m])) > 0", "sum(rate(a[10m]))"],
        ["sum(rate(b[10m])) > 0", "sum(rate(b[10m]))"],
    ]
    assert alert_parts("x / ignoring(k) group_left sum(y) > 0.05") == [["x / ignoring(k) group_left sum(y) > 0.05", "x / ignoring(k) group_left sum(y)"]]
    assert alert_parts("deriv(sum by (t) (x)[15m:1m]) > 0") == [
        ["deriv(sum by (t) (x)[15m:1m]) > 0", "deriv(sum by (t) (x)[15m:1m])", "sum by (t) (x)"]
    ]
    # A comparison between two series is not a threshold: nothing is taken away.
    assert alert_parts("a > b") == [["a > b"]]
    assert alert_parts("rate(x[5m])") == [["rate(x[5m])"]]


# --- Prometheus HTTP API ---------------------------------------------------------------------------


class PrometheusAPI:
    def __init__(self, port: int, proc: subprocess.Popen, log_path: Path):
        self.base = f"http://127.0.0.1:{port}"
        self.proc = proc
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def get(self, path: str, **params) -> dict:
        resp = httpx.get(self.base + path, params=params, timeout=10.0)
        body = resp.json()
        assert resp.status_code == 200 and body.get("status") == "success", (path, params, resp.status_code, body)
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant query at the current time; the result as a list of ``{"metric", "value"}``."""
        data = self.get("/api/v1/query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        assert data["resultType"] == "vector", data
        return data["result"]

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


def _wait(what: str, check, timeout_s: float, on_timeout=lambda: "") -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{on_timeout()}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker(broker, kit, tmp_path_factory, request):
    """``unspun worker`` on the session broker with its own topics and metrics port (not yet ready:
    it loads its models while Prometheus starts)."""
    env = kit.stream_env(broker, UNSPUN_METRICS_HOST="127.0.0.1")
    worker = kit.launch_worker(env, tmp_path_factory.mktemp("worker") / "worker.log")
    request.addfinalizer(lambda: _stop(worker.proc))
    return worker


@pytest.fixture(scope="module")
def prometheus(worker, tmp_path_factory, request):
    """A Prometheus server scraping the worker every second, with the alert rules loaded."""
    if PROMETHEUS is None:
        pytest.skip("prometheus not installed (Debian package `prometheus`)")
    from workers.stream.broker import free_port

    home = tmp_path_factory.mktemp("prometheus")
    config = home / "prometheus.yml"
    config.write_text(
        Template(deploy_checks.PROMETHEUS_TEMPLATE.read_text()).substitute(
            scrape_interval=SCRAPE_INTERVAL,
            worker_target=f"127.0.0.1:{worker.metrics_port}",
            rules_file=str(deploy_checks.ALERTS),
        )
    )
    port = free_port()
    log_path = home / "prometheus.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            cwd=str(home),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    request.addfinalizer(lambda: _stop(proc))
    api = PrometheusAPI(port, proc, log_path)

    def ready():
        assert proc.poll() is None, f"prometheus exited with {proc.returncode}:\n{api.log()}"
        try:
            return httpx.get(api.base + "/-/ready", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    _wait("Prometheus to be ready", ready, 30, api.log)
    return api


@pytest.fixture(scope="module")
def traffic(worker, prometheus, kit):
    """Send the samples and bad messages (and two samples again: one with no timestamp, one
    ``OLD_S`` seconds old) once Prometheus has seen the idle worker, and wait until Prometheus has
    scraped the outcome several times."""
    settings = worker.settings
    worker.wait_ready(timeout_s=120)

    scrapes = f'count_over_time(unspun_worker_ready{{job="{JOB}"}}[1h])'

    def scraped_ready(n):
        def check():
            count, ready = prometheus.scalar(scrapes), prometheus.scalar(f'unspun_worker_ready{{job="{JOB}"}}')
            return count is not None and count >= n and ready == 1 and count

        return check

    # Samples of the idle worker first: rates need a sample before the counters move.
    before = _wait("Prometheus to scrape the ready worker", scraped_ready(2), 30, prometheus.log)

    good = [(p.stem.encode(), p.read_bytes()) for p in GOOD]
    bad = [(None, line) for line in (SAMPLES / "bad-messages.raw").read_bytes().splitlines() if line.strip()]
    assert len(bad) == len(BAD_KINDS) and good
    # One article from a producer that sets no timestamp (0), one that waited OLD_S in a backlog.
    now_ms = int(time.time() * 1000)
    timed = [(b"no-timestamp", GOOD[0].read_bytes(), 0), (b"backlog", GOOD[-1].read_bytes(), now_ms - OLD_S * 1000)]
    inputs = good + bad + timed
    kit.produce(settings, settings.input_topic, inputs)
    outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(inputs))
    assert len(outputs) == len(inputs), [(r.topic, r.key) for r in outputs]

    def seen_all():
        n = prometheus.scalar(f'sum(unspun_end_to_end_latency_seconds_count{{job="{JOB}"}})')
        return n is not None and n >= len(inputs) - 1  # all but the one without a timestamp

    _wait("Prometheus to scrape the processed traffic", seen_all, 30, prometheus.log)
    after = prometheus.scalar(scrapes)
    # A few more scrapes, so every rate window holds the counters' final values more than once.
    _wait("three more scrapes", scraped_ready(after + 3), 30, prometheus.log)
    return {"inputs": inputs, "good": len(good) + len(timed), "bad": len(bad), "scrapes_before": before}


# --- tests ------------------------------------------------------------------------------------------


def test_prometheus_scrapes_the_worker(prometheus, traffic, worker):
    targets = prometheus.get("/api/v1/targets", state="active")["activeTargets"]
    assert [(t["labels"]["job"], t["labels"]["instance"], t["health"]) for t in targets] == [
        (JOB, f"127.0.0.1:{worker.metrics_port}", "up")
    ]
    # The counters Prometheus holds are what went through the worker.
    topic = worker.settings.input_topic
    consumed = prometheus.query(f'unspun_messages_consumed_total{{job="{JOB}"}}')
    assert {r["metric"]["topic"]: float(r["value"][1]) for r in consumed} == {topic: len(traffic["inputs"])}
    assert prometheus.scalar(f'sum(unspun_events_emitted_total{{job="{JOB}"}})') == traffic["good"]
    dead = prometheus.query(f'unspun_dead_letters_total{{job="{JOB}"}} > 0')
    assert {r["metric"]["kind"]: float(r["value"][1]) for r in dead} == Counter(BAD_KINDS)


def test_dashboard_latency_reads_a_backlog_and_skips_missing_timestamps(prometheus, traffic):
    """The dashboard's end-to-end p99 over the run shows the OLD_S s old article's true age (between
    the 120 s and 300 s buckets), not the top of a bucket range that ends too low; the article
    without a timestamp is counted apart and adds nothing like 1.8e9 s to the latency."""
    p99 = next(e for w, e in QUERIES if w.startswith("dashboard") and "histogram_quantile(0.99" in e and "end_to_end" in e)
    reading = prometheus.scalar(deploy_checks.for_api(p99, rate_interval="1h"))
    assert reading is not None and 120 < reading <= 300, reading
    assert prometheus.scalar(f'sum(unspun_missing_timestamp_total{{job="{JOB}"}})') == 1
    assert prometheus.scalar(f'sum(unspun_end_to_end_latency_seconds_sum{{job="{JOB}"}})') < OLD_S + 60


def test_alert_rules_load_and_evaluate(prometheus, traffic):
    groups = prometheus.get("/api/v1/rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    expected = {r["alert"] for r in deploy_checks.alert_rules() if "alert" in r}
    assert set(rules) == expected
    for name, rule in rules.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))


def test_alerts_are_quiet_on_a_healthy_worker(prometheus, traffic):
    """Nothing that pages is firing or pending while the worker runs fine. (The dead-letter ratio of
    this traffic, 3 of 7, is far above its threshold: that alert may rightly be pending.)"""
    alerts = prometheus.get("/api/v1/alerts")["alerts"]
    critical = [a["labels"]["alertname"] for a in alerts if a["labels"].get("severity") == "critical"]
    assert critical == []


def test_grafana_job_variable_finds_the_job(prometheus, traffic):
    # The dashboard's $job variable: label_values(unspun_worker_ready, job).
    jobs = prometheus.get("/api/v1/label/job/values", **{"match[]": "unspun_worker_ready"})
    assert jobs == [JOB]


@pytest.mark.parametrize(("where", "expr"), QUERIES, ids=[f"{i:02d} {w}" for i, (w, _) in enumerate(QUERIES)])
def test_query_returns_data(prometheus, traffic, where, expr):
    query = deploy_checks.for_api(expr)
    result = prometheus.query(query)  # asserts Prometheus accepts the whole expression
    if where.startswith("dashboard"):
        assert result, f"{where}: no data for {query}"
        nan = [r["metric"] for r in result if math.isnan(float(r["value"][1]))]
        assert not nan, f"{where}: NaN for {nan} in {query}"
        return
    if result:
        return
    # A false alert condition: each operand, down to the value its threshold applies to, has data.
    for tries in alert_parts(query):
        for attempt in tries:
            if prometheus.query(attempt):
                print(f"{where}: no data (condition false); checked {attempt!r}")
                break
        else:
            pytest.fail(f"{where}: no data for {query}; nor for any of {json.dumps(tries)}")
