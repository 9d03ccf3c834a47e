"""Prometheus config and alert rules: promtool checks and unit tests, plus coverage of every alert."""

from __future__ import annotations

import shutil
import subprocess
from string import Template

import pytest

import deploy_checks as dc


def run(cmd: list[str], cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_check_config(promtool):
    result = run([promtool, "check", "config", str(dc.PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules(promtool):
    result = run([promtool, "check", "rules", str(dc.ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules(promtool):
    result = run([promtool, "test", "rules", str(dc.ALERTS_TEST)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_fails_when_an_alert_changes(promtool, tmp_path):
    """The unit tests pin the thresholds: loosening one makes them fail."""
    text = dc.ALERTS.read_text(encoding="utf-8").replace("> 0.05", "> 0.5")
    assert text != dc.ALERTS.read_text(encoding="utf-8")
    (tmp_path / "alerts.yml").write_text(text, encoding="utf-8")
    shutil.copy(dc.ALERTS_TEST, tmp_path / "alerts_test.yml")
    result = run([promtool, "test", "rules", str(tmp_path / "alerts_test.yml")])
    assert result.returncode != 0


def render_template(tmp_path, target="127.0.0.1:9108") -> str:
    return Template(dc.PROMETHEUS_TEMPLATE.read_text(encoding="utf-8")).substitute(
        scrape_interval="1s", worker_target=target, rules_file=str(dc.ALERTS)
    )


def test_template_placeholders():
    template = Template(dc.PROMETHEUS_TEMPLATE.read_text(encoding="utf-8"))
    assert set(template.get_identifiers()) == {"scrape_interval", "worker_target", "rules_file"}


def test_rendered_template_is_a_valid_config(promtool, tmp_path):
    config = tmp_path / "prometheus.yml"
    config.write_text(render_template(tmp_path, "127.0.0.1:41234"), encoding="utf-8")
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr
    import yaml

    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    job = data["scrape_configs"][0]
    assert job["job_name"] == dc.SCRAPE_JOB
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:41234"]


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    alerts = {r["alert"] for r in dc.alert_rules()}
    required = {"UnspunWorkerDown", "UnspunEndToEndLatencyHigh", "UnspunDeadLetterRateHigh",
                "UnspunConsumerLagGrowing", "UnspunNoEventsEmitted"}
    assert required <= alerts
    firing, quiet = set(), set()
    tests = dc.load_yaml(dc.ALERTS_TEST)
    assert tests["rule_files"] == ["alerts.yml"]
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - firing == set(), f"alerts never shown firing: {sorted(alerts - firing)}"
    assert alerts - quiet == set(), f"alerts never shown quiet: {sorted(alerts - quiet)}"


def test_alerts_have_severity_and_text():
    for rule in dc.alert_rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert rule.get("for"), f"{rule['alert']}: a `for` avoids paging on one bad scrape"


def test_latency_alert_uses_p99_of_the_histogram():
    rule = next(r for r in dc.alert_rules() if r["alert"] == "UnspunEndToEndLatencyHigh")
    expr = " ".join(rule["expr"].split())
    assert expr.startswith("histogram_quantile(0.99, sum by (le) (rate(unspun_end_to_end_latency_seconds_bucket[")


@pytest.mark.parametrize("where,expr", list(dc.all_queries()), ids=lambda v: v if isinstance(v, str) and len(v) < 60 else None)
def test_alert_and_dashboard_queries_use_exported_metrics(where, expr):
    assert dc.problems(expr) == [], f"{where}: {expr}"
