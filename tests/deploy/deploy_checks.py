"""Shared knowledge for the deploy tests: the metrics the worker exports, where the deploy files are,
and a small PromQL reader that lists the metric names and grouping labels a query uses.

Also meant for a live test against a real Prometheus: ``all_queries()`` yields every PromQL
expression of the dashboard and the alert rules, and ``for_api()`` turns a dashboard query into one
the Prometheus HTTP API accepts (Grafana's variables replaced).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS_DIR = DEPLOY / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
PROMETHEUS_TEMPLATE = PROMETHEUS_DIR / "prometheus.template.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
GRAFANA_DIR = DEPLOY / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "unspun.json"
GRAFANA_DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_DASHBOARD_PROVIDER = GRAFANA_DIR / "provisioning" / "dashboards" / "unspun.yml"
K8S_DIR = DEPLOY / "k8s"
DATA = Path(__file__).resolve().parent / "data"

TOPICS = ("articles", "articles.enriched", "articles.dlq")
PARTITIONS = 4
SCRAPE_JOB = "unspun"

# The worker's metrics: name -> label names (besides job and instance, which Prometheus adds).
COUNTERS: dict[str, set[str]] = {
    "unspun_messages_consumed_total": {"topic"},
    "unspun_events_emitted_total": set(),
    "unspun_dead_letters_total": {"kind"},
    "unspun_edits_total": set(),
    "unspun_missing_timestamp_total": set(),
    "unspun_spinner_family_total": {"family"},
    "unspun_restorations_total": {"kind"},
    "unspun_links_total": {"order"},
    "process_cpu_seconds_total": set(),
}
HISTOGRAMS: dict[str, set[str]] = {
    "unspun_stage_duration_seconds": {"stage"},
    "unspun_end_to_end_latency_seconds": set(),
    "unspun_edits_per_article": set(),
    "unspun_spin_score": set(),
    "unspun_batch_size": set(),
}
GAUGES: dict[str, set[str]] = {
    "unspun_consumer_lag": {"topic", "partition"},
    "unspun_worker_ready": set(),
    "unspun_learned_pairs": set(),
    "unspun_learned_pairs_in_use": set(),
    "process_resident_memory_bytes": set(),
}
# Series Prometheus itself writes for every target.
SYNTHETIC: dict[str, set[str]] = {"up": set()}
TARGET_LABELS = {"job", "instance"}
STAGES = ("decode", "restore", "ner", "produce")


def series_labels() -> dict[str, set[str]]:
    """Every series name a query may select, with the labels it carries."""
    out: dict[str, set[str]] = {}
    for table in (COUNTERS, GAUGES, SYNTHETIC):
        for name, labels in table.items():
            out[name] = labels | TARGET_LABELS
    for name, labels in HISTOGRAMS.items():
        out[name + "_bucket"] = labels | TARGET_LABELS | {"le"}
        out[name + "_sum"] = labels | TARGET_LABELS
        out[name + "_count"] = labels | TARGET_LABELS
    return out


ALLOWED_SERIES = frozenset(series_labels())

# --- PromQL reading -------------------------------------------------------------------------------

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
     "bool", "offset", "inf", "nan", "atan2"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_IDENT = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?")


def _strip_strings(expr: str) -> str:
    return _STRING.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """Metric names selected by a PromQL expression (function and keyword names excluded)."""
    s = _strip_strings(expr)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range and subquery selectors
    s = _GROUPING.sub(" ", s)  # by (...), on (...), group_left (...)
    s = re.sub(r"\$\{?\w+\}?", " ", s)  # Grafana variables
    s = re.sub(r"\boffset\s+-?[0-9]+[a-z]*", " ", s)
    names = set()
    for m in _IDENT.finditer(s):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def grouping_labels(expr: str) -> set[str]:
    """Label names used in by/without/on/ignoring/group_left/group_right clauses."""
    labels = set()
    for m in _GROUPING.finditer(_strip_strings(expr)):
        labels |= {x.strip() for x in m.group(2).split(",") if x.strip()}
    return labels


def matcher_labels(expr: str) -> list[tuple[str | None, set[str]]]:
    """(metric name or None, label names) for each selector with label matchers."""
    out = []
    for m in _SELECTOR.finditer(_strip_strings(expr).replace('""', '"x"')):
        out.append((m.group(1), set(_MATCHER_LABEL.findall(m.group(2)))))
    return out


def problems(expr: str) -> list[str]:
    """What is wrong with a query against the worker's metrics: unknown metric names or labels."""
    known = series_labels()
    errs = []
    names = metric_names(expr)
    if not names:
        errs.append("selects no metric")
    for name in sorted(names):
        if name not in known:
            errs.append(f"unknown metric {name!r}")
    usable = set(TARGET_LABELS)
    for name in names & set(known):
        usable |= known[name]
    for label in sorted(grouping_labels(expr) - usable):
        errs.append(f"label {label!r} is not a label of {sorted(names)}")
    for name, labels in matcher_labels(expr):
        allowed = known.get(name, usable) if name else usable
        for label in sorted(labels - allowed - {"__name__"}):
            errs.append(f"label {label!r} is not a label of {name or sorted(names)}")
    return errs


# --- the files ------------------------------------------------------------------------------------

def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_all(path: Path) -> list:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(dash: dict) -> Iterator[dict]:
    """All panels, including those nested in collapsed rows."""
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel."""
    for p in panels(dashboard()):
        for t in p.get("targets", []):
            yield p.get("title", ""), t.get("expr", "")


def alert_rules() -> Iterator[dict]:
    for group in load_yaml(ALERTS)["groups"]:
        yield from group["rules"]


def all_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every dashboard target and alert rule."""
    for title, expr in dashboard_queries():
        yield f"dashboard panel {title!r}", expr
    for rule in alert_rules():
        yield f"alert {rule.get('alert') or rule.get('record')}", rule["expr"]


def for_api(expr: str, rate_interval: str = "1m", job: str = SCRAPE_JOB) -> str:
    """A dashboard query with Grafana's variables replaced, ready for /api/v1/query."""
    out = expr
    for var in ("$__rate_interval", "${__rate_interval}", "$__interval", "${__interval}"):
        out = out.replace(var, rate_interval)
    for var in ("${job}", "$job"):
        out = out.replace(var, job)
    return out


def settings_keys() -> set[str]:
    """Environment variable names workers/settings.py reads."""
    from workers.settings import Settings

    return {"UNSPUN_" + name.upper() for name in Settings.model_fields} | {"KAFKA_BROKER"}
