"""Grafana: the dashboard's queries, its datasource variable, and the provisioning files."""

from __future__ import annotations

import re

import pytest

import deploy_checks as dc

DS_VAR = "${datasource}"


@pytest.fixture(scope="module")
def dash() -> dict:
    return dc.dashboard()


def test_every_panel_has_a_query(dash):
    panels = [p for p in dc.panels(dash) if p.get("type") != "row"]
    assert len(panels) >= 10
    for p in panels:
        assert p.get("targets"), f"panel {p['title']!r} has no query"
        for t in p["targets"]:
            assert t.get("expr", "").strip(), f"panel {p['title']!r} has an empty query"
            assert t.get("refId")


def test_panel_ids_and_titles_are_unique(dash):
    panels = list(dc.panels(dash))
    assert len({p["id"] for p in panels}) == len(panels)
    assert len({p["title"] for p in panels}) == len(panels)


def test_datasource_variable_is_used_everywhere(dash):
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    provisioned = dc.load_yaml(dc.GRAFANA_DATASOURCES)["datasources"]
    assert ds["current"]["value"] in {d["uid"] for d in provisioned}
    for p in dc.panels(dash):
        assert p["datasource"] == {"type": "prometheus", "uid": DS_VAR}, p["title"]
        for t in p["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": DS_VAR}, p["title"]
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"]["uid"] == DS_VAR
    text = dc.DASHBOARD.read_text(encoding="utf-8")
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', text)) - {dash["uid"]}
    assert uids == {DS_VAR}, f"hard-coded datasource uids: {sorted(uids - {DS_VAR})}"


def test_query_variables_use_exported_metrics(dash):
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert m and m.group(1) in dc.ALLOWED_SERIES, query


def _titles_using(dash, metric: str) -> list[str]:
    return [p["title"] for p in dc.panels(dash) for t in p["targets"] if metric in dc.metric_names(t["expr"])]


@pytest.mark.parametrize(
    "metric",
    ["unspun_messages_consumed_total", "unspun_events_emitted_total", "unspun_dead_letters_total",
     "unspun_end_to_end_latency_seconds_bucket", "unspun_stage_duration_seconds_bucket",
     "unspun_edits_per_article_bucket", "unspun_spin_score_bucket", "unspun_consumer_lag",
     "process_resident_memory_bytes", "process_cpu_seconds_total", "unspun_worker_ready",
     "unspun_batch_size_bucket", "unspun_edits_total"],
)
def test_required_metric_has_a_panel(dash, metric):
    assert _titles_using(dash, metric), f"no panel shows {metric}"


@pytest.mark.parametrize("metric", ["unspun_end_to_end_latency_seconds", "unspun_stage_duration_seconds"])
def test_latency_percentiles_from_histogram_buckets(dash, metric):
    exprs = [" ".join(t["expr"].split()) for p in dc.panels(dash) for t in p["targets"] if metric + "_bucket" in t["expr"]]
    for q in ("0.5", "0.95", "0.99"):
        assert any(re.match(rf"histogram_quantile\({q}, sum by \(le[,)].*rate\({metric}_bucket\{{", e) for e in exprs), (metric, q)


def test_dead_letters_grouped_by_kind(dash):
    exprs = [t["expr"] for p in dc.panels(dash) for t in p["targets"] if "unspun_dead_letters_total" in t["expr"]]
    assert any("by (kind)" in e for e in exprs)


def test_dashboard_queries_only_use_exported_metrics(dash):
    bad = {f"{title}: {expr}": dc.problems(expr) for title, expr in dc.dashboard_queries() if dc.problems(expr)}
    assert not bad, bad


@pytest.mark.parametrize(
    "expr,expected",
    [
        ('sum by (kind) (rate(unspun_dead_letters_total{job=~"$job"}[$__rate_interval]))', {"unspun_dead_letters_total"}),
        ("histogram_quantile(0.99, sum by (le, stage) (rate(unspun_stage_duration_seconds_bucket[5m])))",
         {"unspun_stage_duration_seconds_bucket"}),
        ("a_total / ignoring(kind) group_left sum(rate(b_total[5m])) > 0.05 unless c == bool 1", {"a_total", "b_total", "c"}),
        ("deriv(sum by (topic) (max by (topic, partition) (unspun_consumer_lag))[15m:1m]) > 0", {"unspun_consumer_lag"}),
        ('absent(up{job="unspun"})', {"up"}),
        ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
    ],
)
def test_metric_name_reader(expr, expected):
    assert dc.metric_names(expr) == expected


@pytest.mark.parametrize(
    "expr",
    [
        "rate(unspun_messages_consumed[5m])",  # missing _total
        "unspun_spin_score",  # histogram without a series suffix
        "rate(unspun_edits_totl[5m])",
        "sum by (kinds) (rate(unspun_dead_letters_total[5m]))",
        'unspun_stage_duration_seconds_bucket{stag="ner"}',
    ],
)
def test_a_typo_is_reported(expr):
    assert dc.problems(expr)


def test_for_api_replaces_grafana_variables():
    expr = 'rate(unspun_edits_total{job=~"$job"}[$__rate_interval])'
    assert dc.for_api(expr) == 'rate(unspun_edits_total{job=~"unspun"}[1m])'


def test_dashboard_provider_points_at_the_dashboards():
    provider = dc.load_yaml(dc.GRAFANA_DASHBOARD_PROVIDER)
    assert provider["apiVersion"] == 1
    (p,) = provider["providers"]
    assert p["type"] == "file" and p["options"]["path"]
    ds = dc.load_yaml(dc.GRAFANA_DATASOURCES)
    assert ds["apiVersion"] == 1
    (d,) = ds["datasources"]
    assert d["type"] == "prometheus" and d["isDefault"] is True
