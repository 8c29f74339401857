"""The Kubernetes manifests in deploy/: they parse, and they agree with each other and with the code."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support.paths import ROOT

DEPLOY = ROOT / "deploy"
# Each Deployment's health route, as the services answer it (bot/ops/services.py checks the same ones).
HEALTH = {"gxga-rasa": "/", "gxga-actions": "/health", "gxga-web": "/health"}


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert isinstance(doc, dict) and doc.get("kind") and doc.get("apiVersion"), path
            docs.append(doc)
    return docs


def of_kind(manifests, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in manifests if d["kind"] == kind}


def quantity_mib(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", value).groups()
    return float(number) * (1024 if unit == "Gi" else 1)


def test_kustomization_lists_every_manifest():
    listed = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    assert sorted(listed) == sorted(p.name for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def test_deployments_have_replicas_probes_and_resources(manifests):
    deployments = of_kind(manifests, "Deployment")
    assert set(deployments) == set(HEALTH)
    for name, dep in deployments.items():
        assert dep["spec"]["replicas"] == 2, name
        spec = dep["spec"]["template"]["spec"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
        for container in spec["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{name}: no {probe}"
                get = container[probe]["httpGet"]
                assert get["path"] == HEALTH[name] and get["port"] in ports, f"{name}: {probe} {get}"
            requests = container["resources"]["requests"]
            assert requests.get("cpu") and requests.get("memory"), f"{name}: no resource requests"
            limit = container["resources"].get("limits", {}).get("memory")
            assert limit and quantity_mib(limit) >= quantity_mib(requests["memory"]), name
            refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
            assert refs == {"gxga-config", "gxga-secrets"}, name


def test_memory_requests_cover_the_measured_rss(manifests):
    # peak RSS under saturation, MiB: Rasa and actions from bench/bench_floor.py (2026-12-01, after
    # issue 15: no TensorFlow, the knowledge base loaded at start), web from bench/bench_cluster_rss.py
    measured = {"gxga-rasa": 315, "gxga-actions": 141, "gxga-web": 136}
    for name, dep in of_kind(manifests, "Deployment").items():
        requests = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
        assert quantity_mib(requests["memory"]) >= measured[name] * 1.1, name


def test_services_select_deployments_and_ingress_routes_exist(manifests):
    deployments, services = of_kind(manifests, "Deployment"), of_kind(manifests, "Service")
    for name in deployments:
        service = services[name]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        container_ports = {p["name"] for p in deployments[name]["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    ingress = of_kind(manifests, "Ingress")["gxga"]
    routes = {}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] in services
            assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
            routes[path["path"]] = backend["name"]
    assert routes == {"/webhooks/": "gxga-rasa", "/": "gxga-web"}
    # REST channels need no sticky sessions
    assert not any("affinity" in key for key in ingress["metadata"].get("annotations", {}))
    assert "error timeout http_502 http_503" in ingress["metadata"]["annotations"].values()


def test_config_sets_every_variable_the_production_endpoints_need(manifests):
    config_map = of_kind(manifests, "ConfigMap")["gxga-config"]["data"]
    secret = of_kind(manifests, "Secret")["gxga-secrets"]["stringData"]
    raw = re.sub(r"#.*", "", (ROOT / "endpoints.production.yml").read_text(encoding="utf-8"))
    needed = set(re.findall(r"\$\{(\w+)\}", raw))
    assert needed <= set(config_map) | set(secret), needed - set(config_map) - set(secret)
    assert config_map["BOT_ENV"] == "production"
    assert "PASSWORD" not in " ".join(config_map) and "TOKEN" not in " ".join(config_map)
    for key in ("DATABASE_URL", "APP_DATABASE_URL"):
        assert secret[key].startswith("postgresql"), key
    assert secret["REDIS_URL"].startswith("redis://")
    # the action endpoint is the actions Service
    assert config_map["ACTION_ENDPOINT_URL"].startswith("http://gxga-actions:5055/")
    # rasa is started with the production endpoints
    rasa = of_kind(manifests, "Deployment")["gxga-rasa"]["spec"]["template"]["spec"]["containers"][0]
    args = rasa["args"]
    assert args[args.index("--endpoints") + 1] == "endpoints.production.yml"


def test_only_rasa_pods_reach_the_action_servers(manifests):
    """The NetworkPolicy selects the action pods and admits the Rasa pods on the action port only."""
    deployments = of_kind(manifests, "Deployment")
    [policy] = [
        p
        for p in of_kind(manifests, "NetworkPolicy").values()
        if p["spec"]["podSelector"]["matchLabels"].items()
        <= deployments["gxga-actions"]["spec"]["template"]["metadata"]["labels"].items()
    ]
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]  # ingress is denied but for the rules below
    [rule] = spec["ingress"]
    [source] = rule["from"]
    assert set(source) == {"podSelector"}  # no namespaceSelector or ipBlock: only pods of this namespace
    rasa_labels = deployments["gxga-rasa"]["spec"]["template"]["metadata"]["labels"]
    assert source["podSelector"]["matchLabels"].items() <= rasa_labels.items()
    for name in ("gxga-web", "gxga-actions"):  # the web pods and the action pods themselves are not admitted
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert not source["podSelector"]["matchLabels"].items() <= labels.items(), name
    container = deployments["gxga-actions"]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert [p["port"] for p in rule["ports"]] == ["http"] and ports["http"] == 5055
    assert all(p.get("protocol", "TCP") == "TCP" for p in rule["ports"])


def test_the_action_server_secret_is_in_the_secret_and_both_sides_get_it(manifests):
    config_map = of_kind(manifests, "ConfigMap")["gxga-config"]["data"]
    secret = of_kind(manifests, "Secret")["gxga-secrets"]["stringData"]
    assert "ACTION_SERVER_TOKEN" in secret and "ACTION_SERVER_TOKEN" not in config_map
    assert len(secret["ACTION_SERVER_TOKEN"]) >= 16  # bot/config.py refuses shorter ones
    assert secret["ACTION_SERVER_TOKEN"] != secret["RASA_API_TOKEN"]
    deployments = of_kind(manifests, "Deployment")
    for name in ("gxga-rasa", "gxga-actions"):  # Rasa sends it, the action server checks it
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert {"secretRef": {"name": "gxga-secrets"}} in container["envFrom"], name
    actions = deployments["gxga-actions"]["spec"]["template"]["spec"]["containers"][0]
    assert actions["command"][1:3] == ["-m", "bot.ops.action_server"]
    assert not any("TOKEN" in part for part in actions["command"] + actions.get("args", []))
