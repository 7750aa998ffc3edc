"""templates/kubernetes: valid, locked-down manifests for one Djed MCP service.

Every core object is checked against the Kubernetes JSON schemas that
kubernetes-validate ships (strict: an unknown field fails), the
ExternalSecret custom resource against its required fields, and the settings
in the ConfigMap against what djed-mcp-base and djed-logger really read.
"""

from __future__ import annotations

import copy
import importlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from djed.logger._settings import resolve_settings
from djed.mcp_base import ServerSettings
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
MANIFESTS = "."  # the CLI chooses the folder (deploy/kubernetes by default)
ANSWERS_FILE = ".copier-answers.kubernetes.yml"
#: The one Kubernetes version the manifests are validated against.
KUBERNETES_VERSION = "1.33"

# kubernetes-validate ships no type information: imported by name, it is Any to mypy.
kubernetes_validate: Any = importlib.import_module("kubernetes_validate")

CORE_KINDS = {
    "ConfigMap": "v1",
    "Deployment": "apps/v1",
    "Service": "v1",
    "Ingress": "networking.k8s.io/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
}
OTHER_KINDS = {
    "ExternalSecret": "external-secrets.io/v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}

CUSTOM = {
    "name": "billing-mcp",
    "namespace": "tools",
    "image": "ghcr.io/acme/billing-mcp@sha256:" + "a" * 64,
    "port": 9000,
    "replicas": 3,
    "min_replicas": 2,
    "max_replicas": 6,
    "cpu_target": 60,
    "cpu_request": "500m",
    "cpu_limit": "2",
    "memory_request": "1Gi",
    "memory_limit": "2Gi",
    "ingress_host": "mcp.acme.test",
    "tls_secret_name": "acme-wildcard-tls",
    "ingress_class": "internal",
    "secret_store_name": "vault",
    "secret_store_kind": "SecretStore",
    "secret_remote_key": "prod/billing",
    "stateless": False,
    "log_level": "debug",
}
DEFAULTS = {
    "name": "demo",
    "namespace": "demo",
    "image": "registry.example.com/demo:0.1.0",
    "port": 8000,
    "replicas": 2,
    "min_replicas": 2,
    "max_replicas": 10,
    "cpu_target": 70,
    "cpu_request": "250m",
    "cpu_limit": "1",
    "memory_request": "256Mi",
    "memory_limit": "512Mi",
    "ingress_host": "demo.example.com",
    "tls_secret_name": "demo-tls",
    "ingress_class": "",
    "secret_store_name": "djed-secrets",
    "secret_store_kind": "ClusterSecretStore",
    "secret_remote_key": "demo/demo",
    "stateless": True,
    "log_level": "info",
}


def render(dst: Path, data: Mapping[str, Any]) -> None:
    copier.run_copy(
        str(TEMPLATES / "kubernetes"), dst, data=dict(data), defaults=True, quiet=True, unsafe=False
    )


@dataclass
class Rendered:
    """One rendering of the template: its answers, folder and parsed documents by file."""

    answers: dict[str, Any]
    root: Path
    files: dict[str, list[dict[str, Any]]]

    def kind(self, kind: str) -> dict[str, Any]:
        (found,) = [d for docs in self.files.values() for d in docs if d.get("kind") == kind]
        return found

    def documents(self) -> Iterator[dict[str, Any]]:
        for docs in self.files.values():
            yield from docs

    @property
    def pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.kind("Deployment")["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.pod["containers"]
        assert isinstance(container, dict)
        return container


def load(root: Path, answers: dict[str, Any]) -> Rendered:
    files: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((root / MANIFESTS).glob("*.yaml")):
        files[path.name] = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return Rendered(answers, root, files)


@pytest.fixture(scope="module", params=["defaults", "custom"])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    dst = tmp_path_factory.mktemp(f"kubernetes-{request.param}")
    if request.param == "defaults":
        render(dst, {"name": "demo"})
        return load(dst, DEFAULTS)
    render(dst, CUSTOM)
    return load(dst, CUSTOM)


def externalsecret_problems(doc: Mapping[str, Any]) -> list[str]:
    """What an ExternalSecret (external-secrets.io/v1) lacks of its required fields."""
    problems: list[str] = []
    if doc.get("apiVersion") != "external-secrets.io/v1":
        problems.append(f"apiVersion is {doc.get('apiVersion')!r}, not external-secrets.io/v1")
    meta = doc.get("metadata") or {}
    problems += [f"metadata.{key} is missing" for key in ("name", "namespace") if not meta.get(key)]
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return [*problems, "spec is missing"]
    store = spec.get("secretStoreRef") or {}
    if not store.get("name"):
        problems.append("spec.secretStoreRef.name is missing")
    if store.get("kind") not in {"SecretStore", "ClusterSecretStore"}:
        problems.append(f"spec.secretStoreRef.kind is {store.get('kind')!r}")
    if not (spec.get("target") or {}).get("name"):
        problems.append("spec.target.name is missing")
    interval = spec.get("refreshInterval")
    if interval is not None and not re.fullmatch(r"(\d+(ns|us|ms|s|m|h))+", str(interval)):
        problems.append(f"spec.refreshInterval {interval!r} is not a duration")
    data, data_from = spec.get("data") or [], spec.get("dataFrom") or []
    if not data and not data_from:
        problems.append("neither spec.data nor spec.dataFrom says what to fetch")
    for i, item in enumerate(data):
        if not item.get("secretKey") or not (item.get("remoteRef") or {}).get("key"):
            problems.append(f"spec.data[{i}] needs secretKey and remoteRef.key")
    for i, item in enumerate(data_from):
        extract = item.get("extract") or {}
        if not extract.get("key") and not item.get("find"):
            problems.append(f"spec.dataFrom[{i}] needs extract.key or find")
    return problems


_SUFFIXES = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_SUFFIXES |= {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


def quantity(text: str) -> float:
    """A Kubernetes quantity ("250m", "1.5Gi") as a plain number."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    assert match, text
    return float(match[1]) * _SUFFIXES.get(match[2], 1.0 if not match[2] else float("nan"))


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


class TestRendering:
    def test_every_file_is_one_yaml_document(self, rendered: Rendered) -> None:
        """Each manifest parses and holds exactly one object of the expected kind."""
        kinds = {}
        for name, docs in rendered.files.items():
            assert len(docs) == 1, name
            kinds[docs[0]["kind"]] = docs[0]["apiVersion"]
        assert kinds == CORE_KINDS | OTHER_KINDS

    def test_answers_file(self, rendered: Rendered) -> None:
        """The answers are recorded in the template's own answers file, for copier update."""
        answers = yaml.safe_load((rendered.root / ANSWERS_FILE).read_text())
        assert {k: answers[k] for k in rendered.answers} == rendered.answers
        assert not (rendered.root / ".copier-answers.yml").exists()

    def test_every_object_is_named_and_namespaced(self, rendered: Rendered) -> None:
        """Every object lives in the chosen namespace and carries the service's labels."""
        name, namespace = rendered.answers["name"], rendered.answers["namespace"]
        for doc in rendered.documents():
            if doc["kind"] == "Kustomization":
                assert doc["namespace"] == namespace
                continue
            assert doc["metadata"]["namespace"] == namespace
            assert doc["metadata"]["name"].startswith(name)
            assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == name


class TestSchemas:
    def test_core_kinds_validate_strictly(self, rendered: Rendered) -> None:
        """Deployment, Service, Ingress, ConfigMap, HPA and PDB pass the strict schemas."""
        validated = set()
        for doc in rendered.documents():
            if doc["kind"] in CORE_KINDS:
                version = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
                assert version == KUBERNETES_VERSION
                validated.add(doc["kind"])
        assert validated == set(CORE_KINDS)

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (
                ("spec", "template", "spec", "containers", 0, "securityContext", "readOnlyRoot"),
                True,
            ),
            (("spec", "template", "spec", "containers", 0, "resources", "requests", "cpu"), []),
            (("spec", "replicas"), "two"),
        ],
    )
    def test_strict_validation_catches_mistakes(
        self, rendered: Rendered, path: tuple[str | int, ...], value: Any
    ) -> None:
        """An unknown field or a wrong type in a copy of the Deployment is refused."""
        doc = copy.deepcopy(rendered.kind("Deployment"))
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)

    def test_externalsecret_has_its_required_fields(self, rendered: Rendered) -> None:
        """The ExternalSecret names the chosen store and the Secret the pods read."""
        external = rendered.kind("ExternalSecret")
        assert externalsecret_problems(external) == []
        store = external["spec"]["secretStoreRef"]
        assert store == {
            "kind": rendered.answers["secret_store_kind"],
            "name": rendered.answers["secret_store_name"],
        }
        keys = [item["extract"]["key"] for item in external["spec"]["dataFrom"]]
        assert keys == [rendered.answers["secret_remote_key"]]

    @pytest.mark.parametrize(
        ("removed", "problem"),
        [
            (("spec", "secretStoreRef"), "secretStoreRef.name"),
            (("spec", "target"), "target.name"),
            (("spec", "dataFrom"), "neither spec.data nor spec.dataFrom"),
            (("metadata", "namespace"), "metadata.namespace"),
        ],
    )
    def test_externalsecret_check_can_fail(
        self, rendered: Rendered, removed: tuple[str, str], problem: str
    ) -> None:
        """The hand-written check reports a missing required field."""
        doc = copy.deepcopy(rendered.kind("ExternalSecret"))
        del doc[removed[0]][removed[1]]
        assert any(problem in p for p in externalsecret_problems(doc))


class TestSecurity:
    def test_pod_runs_locked_down(self, rendered: Rendered) -> None:
        """Non-root, no privilege escalation, no capabilities, read-only root, seccomp."""
        pod, container = rendered.pod, rendered.container
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context.get("privileged", False) is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}

    def test_tmp_is_a_writable_emptydir(self, rendered: Rendered) -> None:
        """With a read-only root filesystem, /tmp is an emptyDir volume."""
        (mount,) = [m for m in rendered.container["volumeMounts"] if m["mountPath"] == "/tmp"]
        (volume,) = [v for v in rendered.pod["volumes"] if v["name"] == mount["name"]]
        assert "emptyDir" in volume
        assert not mount.get("readOnly", False)

    def test_resources_are_the_answers(self, rendered: Rendered) -> None:
        """Requests and limits are set, from the answers."""
        answers = rendered.answers
        assert rendered.container["resources"] == {
            "requests": {"cpu": answers["cpu_request"], "memory": answers["memory_request"]},
            "limits": {"cpu": answers["cpu_limit"], "memory": answers["memory_limit"]},
        }

    def test_requests_fit_within_limits(self, rendered: Rendered) -> None:
        """Kubernetes refuses a pod whose request is above its limit."""
        resources = rendered.container["resources"]
        for resource in ("cpu", "memory"):
            request = quantity(resources["requests"][resource])
            assert 0 < request <= quantity(resources["limits"][resource]), resource

    def test_no_literal_secret(self, rendered: Rendered) -> None:
        """No Secret with data or stringData: secrets come from the ExternalSecret only."""
        for doc in rendered.documents():
            if doc["kind"] == "Secret":
                assert "data" not in doc
                assert "stringData" not in doc
        assert not any(doc["kind"] == "Secret" for doc in rendered.documents())

    def test_pods_read_the_secret_the_externalsecret_writes(self, rendered: Rendered) -> None:
        """Every Secret reference of the container is the ExternalSecret's target."""
        target = rendered.kind("ExternalSecret")["spec"]["target"]["name"]
        container = rendered.container
        names = [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]
        names += [
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        ]
        assert names
        assert set(names) == {target}

    def test_ingress_serves_tls_and_hides_probes_and_metrics(self, rendered: Rendered) -> None:
        """HTTPS for the chosen host; /healthz, /readyz and /metrics stay in the cluster."""
        spec = rendered.kind("Ingress")["spec"]
        host = rendered.answers["ingress_host"]
        assert spec["tls"] == [{"hosts": [host], "secretName": rendered.answers["tls_secret_name"]}]
        (rule,) = spec["rules"]
        assert rule["host"] == host
        paths = [p["path"] for p in rule["http"]["paths"]]
        assert "/mcp" in paths
        assert not {"/", "/healthz", "/readyz", "/metrics"} & set(paths)
        if rendered.answers["ingress_class"]:
            assert spec["ingressClassName"] == rendered.answers["ingress_class"]
        else:
            assert "ingressClassName" not in spec


class TestProbesAndPorts:
    def test_probes(self, rendered: Rendered) -> None:
        """Liveness asks /healthz, readiness /readyz, both on the named HTTP port."""
        container = rendered.container
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"

    def test_port(self, rendered: Rendered) -> None:
        """The container port is the answer; the Service targets it by name."""
        (port,) = rendered.container["ports"]
        assert port == {
            "name": "http",
            "containerPort": rendered.answers["port"],
            "protocol": "TCP",
        }
        (service_port,) = rendered.kind("Service")["spec"]["ports"]
        assert service_port["targetPort"] == "http"

    def test_shutdown_fits_the_grace_period(self, rendered: Rendered) -> None:
        """preStop pause plus the drain timeout end before the kubelet kills the pod."""
        drain = float(rendered.kind("ConfigMap")["data"]["DJED_MCP_DRAIN_TIMEOUT"])
        pause = rendered.container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pause + drain < rendered.pod["terminationGracePeriodSeconds"]


class TestSelectors:
    def test_selectors_match_the_pods(self, rendered: Rendered) -> None:
        """Deployment, Service, PDB and spread constraints select the Deployment's pods."""
        deployment = rendered.kind("Deployment")
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector_matches(selector, pod_labels)
        assert rendered.kind("Service")["spec"]["selector"] == selector
        assert rendered.kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
        for constraint in rendered.pod["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"] == selector

    def test_selector_check_can_fail(self) -> None:
        """A selector with a label the pods lack matches nothing."""
        labels = {"app.kubernetes.io/name": "demo"}
        assert not selector_matches({"app.kubernetes.io/name": "other"}, labels)
        assert not selector_matches({}, labels)

    def test_hpa_scales_the_deployment(self, rendered: Rendered) -> None:
        """The HPA targets the Deployment, within bounds that hold its first replica count."""
        hpa, deployment = rendered.kind("HorizontalPodAutoscaler"), rendered.kind("Deployment")
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": deployment["apiVersion"],
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
        assert (low, high) == (rendered.answers["min_replicas"], rendered.answers["max_replicas"])
        assert low <= deployment["spec"]["replicas"] == rendered.answers["replicas"] <= high
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["target"]["averageUtilization"] == rendered.answers["cpu_target"]

    def test_references_resolve(self, rendered: Rendered) -> None:
        """The Ingress reaches the Service's port; the pods load the ConfigMap."""
        service = rendered.kind("Service")
        port_names = {p["name"] for p in service["spec"]["ports"]}
        for path in rendered.kind("Ingress")["spec"]["rules"][0]["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in port_names
        config_refs = [
            e["configMapRef"]["name"] for e in rendered.container["envFrom"] if "configMapRef" in e
        ]
        assert config_refs == [rendered.kind("ConfigMap")["metadata"]["name"]]

    def test_sessions_stick_to_a_pod_only_when_stateful(self, rendered: Rendered) -> None:
        """A stateful server keeps each client on one pod; a stateless one balances freely."""
        affinity = rendered.kind("Service")["spec"].get("sessionAffinity", "None")
        assert affinity == ("None" if rendered.answers["stateless"] else "ClientIP")


class TestKustomization:
    def test_lists_every_manifest(self, rendered: Rendered) -> None:
        """kustomization.yaml lists each manifest of the folder once, and nothing else."""
        resources = rendered.kind("Kustomization")["resources"]
        assert len(resources) == len(set(resources))
        on_disk = {p.name for p in (rendered.root / MANIFESTS).iterdir() if p.suffix == ".yaml"}
        assert set(resources) == on_disk - {"kustomization.yaml"}


class _RecordingEnviron(dict[str, str]):
    """An environment that remembers every variable name looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


class TestSettings:
    def test_only_real_variables(self, rendered: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every ConfigMap key is a variable djed-mcp-base or djed-logger reads."""
        data = rendered.kind("ConfigMap")["data"]
        server_env = _RecordingEnviron({})
        ServerSettings.from_env(server_env)
        logger_env = _RecordingEnviron({})
        monkeypatch.setattr(os, "environ", logger_env)
        resolve_logging()
        mcp_keys = {k for k in data if k.startswith("DJED_MCP_")}
        logger_keys = {k for k in data if k.startswith("DJED_LOGGER_")}
        assert mcp_keys | logger_keys == set(data)
        assert mcp_keys <= server_env.read, mcp_keys - server_env.read
        assert logger_keys <= logger_env.read, logger_keys - logger_env.read
        assert {"DJED_MCP_TRANSPORT", "DJED_MCP_HOST", "DJED_MCP_PORT"} <= mcp_keys

    def test_server_settings(self, rendered: Rendered) -> None:
        """djed-mcp-base reads the ConfigMap as an HTTP server on every interface."""
        settings = ServerSettings.from_env(rendered.kind("ConfigMap")["data"])
        assert settings.transport == "http"
        assert settings.host == "0.0.0.0"  # a pod listens on its own interfaces
        assert settings.port == rendered.answers["port"]
        assert settings.stateless is rendered.answers["stateless"]
        assert settings.path == "/mcp"

    def test_host_check_admits_the_service_names(self, rendered: Rendered) -> None:
        """The SDK's DNS-rebinding check admits the public host and the Service's names."""
        settings = ServerSettings.from_env(rendered.kind("ConfigMap")["data"])
        guard = TransportSecurityMiddleware(
            TransportSecuritySettings(allowed_hosts=settings.hosts())
        )
        name, namespace = rendered.answers["name"], rendered.answers["namespace"]
        for host in (
            rendered.answers["ingress_host"],
            name,
            f"{name}.{namespace}.svc",
            f"{name}.{namespace}.svc:80",
            f"{name}.{namespace}.svc.cluster.local",
        ):
            assert guard._validate_host(host), host
        assert not guard._validate_host("evil.example.net")

    def test_logger_settings(self, rendered: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
        """djed-logger reads the ConfigMap: JSON lines, the chosen level, the service's name."""
        data = rendered.kind("ConfigMap")["data"]
        monkeypatch.setattr(os, "environ", _RecordingEnviron(data))
        settings = resolve_logging()
        assert settings.format == "json"
        assert settings.level_name == rendered.answers["log_level"]
        assert settings.service == rendered.answers["name"]
        assert settings.redact is True


def resolve_logging() -> Any:
    """djed-logger's settings from the environment alone, as configure_logging() resolves them."""
    settings, _ = resolve_settings(
        level=None,
        fmt=None,
        service=None,
        file=None,
        stream=None,
        buffered=None,
        flush_interval=None,
        redact=None,
        redact_keys=None,
        mask_emails=None,
        stdlib=None,
        colors=None,
        static_fields=None,
    )
    return settings


class TestQuestions:
    @pytest.mark.parametrize(
        "image",
        [
            "registry.local:5000/team/app:1.2.3",
            "ghcr.io/acme/app@sha256:" + "0" * 64,
            "app:2026.11",
            "localhost/app:dev_build-7",
        ],
    )
    def test_pinned_images_are_accepted(self, tmp_path: Path, image: str) -> None:
        """Any image reference with a tag or a digest renders, registry port included."""
        render(tmp_path, {"name": "demo", "image": image})
        deployment = yaml.safe_load((tmp_path / MANIFESTS / "deployment.yaml").read_text())
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image

    def test_decimal_memory_is_accepted(self, tmp_path: Path) -> None:
        """Kubernetes quantities may be decimal (1.5Gi)."""
        render(tmp_path, {"name": "demo", "memory_request": "1.5Gi", "memory_limit": "2Gi"})
        deployment = yaml.safe_load((tmp_path / MANIFESTS / "deployment.yaml").read_text())
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)

    @pytest.mark.parametrize(
        "name", ["Bad_Name", "UPPER", "-lead", "trail-", "has.dot", "a" * 64, "with space", ""]
    )
    def test_bad_name_is_refused(self, tmp_path: Path, name: str) -> None:
        """A name that is not a DNS-1123 label stops the rendering and writes nothing."""
        with pytest.raises(ValueError, match="name"):
            render(tmp_path / "out", {"name": name})
        assert not (tmp_path / "out" / MANIFESTS).exists()

    @pytest.mark.parametrize("name", ["a", "demo", "billing-mcp-2", "a" * 63])
    def test_good_name_is_accepted(self, tmp_path: Path, name: str) -> None:
        """DNS-1123 labels up to 63 characters render."""
        render(tmp_path, {"name": name})
        deployment = yaml.safe_load((tmp_path / MANIFESTS / "deployment.yaml").read_text())
        assert deployment["metadata"]["name"] == name

    @pytest.mark.parametrize(
        ("answers", "question"),
        [
            ({"port": 80}, "port"),
            ({"port": 70000}, "port"),
            ({"replicas": 2, "min_replicas": 3}, "min_replicas"),
            ({"replicas": 4, "max_replicas": 3}, "max_replicas"),
            ({"image": "registry.example.com/demo:latest"}, "image"),
            ({"image": "has space:1"}, "image"),
            ({"namespace": "Prod"}, "namespace"),
            ({"cpu_request": "lots"}, "cpu_request"),
            ({"memory_limit": "512MB"}, "memory_limit"),
            ({"image": "registry.example.com/demo"}, "image"),
            ({"image": "registry.local:5000/demo"}, "image"),
            ({"image": "Registry.example.com/Demo:1"}, "image"),
            ({"ingress_host": "https://mcp.example.com"}, "ingress_host"),
            ({"secret_store_kind": "Vault"}, "secret_store_kind"),
        ],
    )
    def test_bad_answers_are_refused(
        self, tmp_path: Path, answers: dict[str, Any], question: str
    ) -> None:
        """Each question refuses values Kubernetes or the server would reject."""
        with pytest.raises(ValueError, match=question):
            render(tmp_path, {"name": "demo", **answers})
