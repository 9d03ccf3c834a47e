"""docker-compose.yml: valid against the Compose Specification schema and wired up as documented."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

import deploy_checks as dc

SERVICE_HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"


def test_compose_matches_the_compose_specification_schema(compose):
    schema = json.loads((dc.DATA / "compose-spec" / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_compose_file(compose):
    schema = json.loads((dc.DATA / "compose-spec" / "compose-spec.json").read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["deploy"]["replicas"] = "two"
    broken["services"]["worker"]["depends_on"]["kafka"]["condition"] = "service_ready"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_expected_services(compose):
    assert {"kafka", "kafka-init", "worker", "prometheus", "grafana"} <= set(compose["services"])
    assert not any("zookeeper" in name for name in compose["services"])


def test_images_are_pinned(compose):
    for name, svc in compose["services"].items():
        if "image" in svc and "build" not in svc:
            image = svc["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image version ({image})"
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")


def test_kafka_runs_in_kraft_mode(compose):
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node_id}@")
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert f"{controller}://" in env["KAFKA_LISTENERS"]
    assert controller not in env["KAFKA_ADVERTISED_LISTENERS"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "CLUSTER_ID is a base64 UUID (22 characters)"
    assert not any("ZOOKEEPER" in key for key in env)
    # Single node: the internal topics cannot have more replicas than brokers.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"


def test_topic_job_creates_the_three_topics(compose):
    job = compose["services"]["kafka-init"]
    script = "\n".join(job["command"]) if isinstance(job["command"], list) else job["command"]
    for topic in dc.TOPICS:
        lines = [ln for ln in script.splitlines() if "--create" in ln and re.search(rf"--topic {re.escape(topic)}(\s|$)", ln)]
        assert lines, f"no kafka-topics.sh --create for {topic}"
        assert f"--partitions {dc.PARTITIONS}" in lines[0]
        assert "--if-not-exists" in lines[0], "re-running the stack must not fail on existing topics"
        assert "--bootstrap-server kafka:9092" in lines[0]
    assert job.get("restart", "no") == "no"
    assert job["depends_on"]["kafka"]["condition"] == SERVICE_HEALTHY


def test_two_worker_replicas_in_one_consumer_group(compose):
    worker = compose["services"]["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker, "a fixed container name prevents two replicas"
    assert not worker.get("ports"), "two replicas cannot publish the same host port"
    assert worker["build"]["dockerfile"] == "Dockerfile"
    env = worker["environment"]
    assert env["UNSPUN_APP_ID"], "one app id (consumer group) for every replica"
    assert env["KAFKA_BROKER"] == "kafka://kafka:9092"
    assert env["UNSPUN_METRICS_HOST"] == "0.0.0.0"
    assert int(env["UNSPUN_PARTITIONS"]) == dc.PARTITIONS
    assert (env["UNSPUN_INPUT_TOPIC"], env["UNSPUN_ENRICHED_TOPIC"], env["UNSPUN_DLQ_TOPIC"]) == dc.TOPICS


def test_worker_environment_is_read_by_the_settings(compose, settings_env):
    env = compose["services"]["worker"]["environment"]
    unknown = set(env) - dc.settings_keys()
    assert not unknown, f"variables workers/settings.py does not read: {sorted(unknown)}"
    settings = settings_env(env)
    assert settings.metrics_port == 9108


def test_depends_on_uses_conditions_and_comes_up_in_order(compose):
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions (long syntax)"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            cond = spec["condition"]
            if dep == "kafka-init":
                assert cond == COMPLETED
            else:
                assert cond == SERVICE_HEALTHY, f"{name} -> {dep}: wait for health, not start"
                assert "healthcheck" in services[dep], f"{dep} is waited on but has no healthcheck"
    worker_deps = services["worker"]["depends_on"]
    assert worker_deps["kafka"]["condition"] == SERVICE_HEALTHY
    assert worker_deps["kafka-init"]["condition"] == COMPLETED
    assert services["prometheus"]["depends_on"]["worker"]["condition"] == SERVICE_HEALTHY
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == SERVICE_HEALTHY

    # Start order: a topological sort exists and matches the documented order.
    order, pending = [], dict(services)
    while pending:
        ready = sorted(n for n, s in pending.items() if set(s.get("depends_on", {})) <= set(order))
        assert ready, f"dependency cycle among {sorted(pending)}"
        order += ready
        for n in ready:
            del pending[n]
    assert order.index("kafka") < order.index("kafka-init") < order.index("worker") < order.index("prometheus") < order.index("grafana")


@pytest.mark.parametrize("service", ["kafka", "worker", "prometheus", "grafana"])
def test_long_running_services_have_healthchecks(compose, service):
    check = compose["services"][service]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert check.get("interval") and check.get("retries")


def test_worker_healthcheck_uses_health_endpoint(compose):
    test = " ".join(compose["services"]["worker"]["healthcheck"]["test"])
    assert "/health" in test and ":9108" in test


def test_bind_mounts_exist(compose):
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("."):
                assert (dc.ROOT / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_and_grafana_mounts_match_their_configs(compose):
    prom_mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom_mounts
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in prom_mounts
    graf_mounts = compose["services"]["grafana"]["volumes"]
    provider = dc.load_yaml(dc.GRAFANA_DASHBOARD_PROVIDER)
    dash_path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{dash_path}:ro" in graf_mounts
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in graf_mounts
    datasource = dc.load_yaml(dc.GRAFANA_DATASOURCES)["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"


def test_prometheus_discovers_both_worker_replicas(compose):
    config = dc.load_yaml(dc.PROMETHEUS_CONFIG)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == dc.SCRAPE_JOB)
    sd = job["dns_sd_configs"][0]
    assert sd["names"] == ["worker"] and "worker" in compose["services"]
    assert sd["type"] == "A"
    assert sd["port"] == int(compose["services"]["worker"]["environment"]["UNSPUN_METRICS_PORT"])
