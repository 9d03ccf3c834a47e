"""Kubernetes manifests: validated against the Kubernetes JSON schemas that kubernetes-validate
ships (offline), and checked for probes, resources, scraping and autoscaling."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

import deploy_checks as dc

# The oldest Kubernetes minor still commonly run, and the newest the package knows.
K8S_VERSIONS = ["1.30.0", latest_version()]
MANIFESTS = sorted(p for p in dc.K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


def _docs() -> list[tuple[str, dict]]:
    return [(p.name, d) for p in MANIFESTS for d in dc.load_yaml_all(p)]


@pytest.fixture(scope="module")
def by_kind() -> dict[str, dict]:
    out = {}
    for _, doc in _docs():
        assert doc["kind"] not in out, f"two {doc['kind']} objects"
        out[doc["kind"]] = doc
    return out


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name,doc", _docs(), ids=[f"{n}:{d['kind']}" for n, d in _docs()])
def test_manifest_matches_the_kubernetes_schema(name, doc, version):
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_typo(by_kind):
    broken = copy.deepcopy(by_kind["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProb"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_expected_kinds_and_namespace_agnostic(by_kind):
    assert set(by_kind) == {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"}
    assert by_kind["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    for doc in by_kind.values():
        assert "namespace" not in doc["metadata"], f"{doc['kind']} pins a namespace"


def _container(by_kind) -> dict:
    (container,) = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def test_deployment_resources(by_kind):
    res = _container(by_kind)["resources"]
    assert res["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert res["limits"] == {"cpu": "2", "memory": "1536Mi"}


def test_deployment_probes(by_kind):
    c = _container(by_kind)
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/health"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "leave time for the model to load"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        port = c[probe]["httpGet"]["port"]
        assert port_names.get(port, port) == 9108


def test_deployment_runs_unprivileged(by_kind):
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    c = _container(by_kind)
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    if c["securityContext"].get("readOnlyRootFilesystem"):
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/tmp", "/var/lib/unspun"} <= mounts, "the worker needs writable state and temp directories"


def test_configmap_settings_are_read_by_the_worker(by_kind, settings_env):
    cm = by_kind["ConfigMap"]
    data = cm["data"]
    unknown = set(data) - dc.settings_keys()
    assert not unknown, f"keys workers/settings.py does not read: {sorted(unknown)}"
    settings = settings_env(data)
    assert settings.metrics_host == "0.0.0.0"
    assert (settings.input_topic, settings.enriched_topic, settings.dlq_topic) == dc.TOPICS
    env_from = _container(by_kind)["envFrom"]
    assert {"configMapRef": {"name": cm["metadata"]["name"]}} in env_from
    ports = [p["containerPort"] for p in _container(by_kind)["ports"]]
    assert settings.metrics_port in ports


def test_service_exposes_metrics_for_scraping(by_kind):
    svc = by_kind["Service"]
    ann = svc["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/path"] == "/metrics"
    pod_labels = by_kind["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    port_names = {p["name"]: p["containerPort"] for p in _container(by_kind)["ports"]}
    (port,) = svc["spec"]["ports"]
    assert port["targetPort"] in port_names
    assert int(ann["prometheus.io/port"]) == port["port"] == port_names[port["targetPort"]]
    assert by_kind["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_hpa_scales_the_deployment_on_cpu(by_kind):
    hpa = by_kind["HorizontalPodAutoscaler"]["spec"]
    deployment = by_kind["Deployment"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    (metric,) = hpa["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    partitions = int(by_kind["ConfigMap"]["data"]["UNSPUN_PARTITIONS"])
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"] <= partitions, "replicas beyond the partition count sit idle"
    assert hpa["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["maxReplicas"]


def test_kustomization_lists_every_manifest():
    kustomization = dc.load_yaml(dc.K8S_DIR / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]
