"""templates/monitoring: alerts, dashboard and log pipeline on the series Djed really exports.

A MeterProvider can be set once per process and other tests set theirs, so the
real metric names come from a fresh interpreter: it installs the OpenTelemetry
SDK with the Prometheus exporter, drives every package until each instrument
reports, and writes the Prometheus exposition and the JSON log lines it
produced. Every PromQL expression of the rules and the dashboard must parse and
name only series (and labels) found there.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
MONITORING = "."  # the CLI chooses the folder (deploy/monitoring by default)
ANSWERS_FILE = ".copier-answers.monitoring.yml"

#: Series Prometheus makes itself for every target, not exported by Djed.
PROMETHEUS_SERIES = {"up"}
#: Labels the Prometheus Operator puts on every series of a ServiceMonitor's targets.
TARGET_LABELS = {"job", "namespace", "pod", "service", "endpoint", "container", "instance"}
#: Grafana's range variables, replaced by a duration before parsing.
GRAFANA_RANGES = ("__rate_interval", "__interval", "__range")
#: Prometheus families of each package, by prefix; each must be exported and watched.
PACKAGES = ("djed_mcp_", "djed_breaker_", "djed_cache_", "djed_crdt_", "djed_logger_")

DEFAULTS = {
    "name": "demo",
    "namespace": "demo",
    "prometheus_release": "kube-prometheus-stack",
    "scrape_interval": "30s",
    "error_ratio_threshold": 0.05,
    "latency_p95_seconds": 1.0,
    "max_sessions": 1000,
    "outbox_depth_threshold": 1000,
}
CUSTOM = {
    "name": "billing-mcp",
    "namespace": "tools",
    "prometheus_release": "prometheus",
    "scrape_interval": "15s",
    "error_ratio_threshold": 0.02,
    "latency_p95_seconds": 2.5,
    "max_sessions": 500,
    "outbox_depth_threshold": 50,
}

COLLECT = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path

    from opentelemetry import metrics, trace
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import REGISTRY, generate_latest

    out = Path(sys.argv[1])
    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))
    trace.set_tracer_provider(TracerProvider())

    from djed.logger import configure_logging, flush_logs, get_logger

    configure_logging(format="json", file=out / "logs.jsonl", buffered=False, service="probe")
    with trace.get_tracer("probe").start_as_current_span("probe"):
        get_logger("probe").warning("inside a span")

    from djed.breaker import CircuitBreaker, CircuitOpenError, Outbox, Retry
    from djed.cache import SyncCache
    from djed.crdt import MemoryStorage, SyncClient, SyncServer
    from djed.mcp_base import Rate, build_app, create_server
    from djed.mcp_base.testing import serve
    from djed.validator import validate
    from mcp import Client
    from mcp.shared.exceptions import MCPError
    from pycrdt import Text

    # djed-breaker: a breaker failing until it opens, a retried call, a queued call.
    breaker = CircuitBreaker("payments", consecutive_failures=2)
    def failing():
        raise ConnectionError("down")
    for _ in range(3):
        try:
            breaker.call(failing)
        except (ConnectionError, CircuitOpenError):
            pass
    tries = []
    def flaky():
        tries.append(1)
        if len(tries) < 2:
            raise ConnectionError("once")
        return "ok"
    Retry(attempts=3, initial=0.001).call(flaky)
    outbox = Outbox(out / "outbox.db")  # tracked weakly: keep a reference
    outbox.enqueue("email", {"to": "someone"}, key="k1")

    # djed-cache: a miss, a hit, a failing load. djed-validator: one compiled schema.
    cache = SyncCache(ttl=60)
    cache.get_or_load("k", lambda: 1)
    cache.get_or_load("k", lambda: 1)
    def broken():
        raise ValueError("no")
    try:
        cache.get_or_load("other", broken)
    except ValueError:
        pass
    validate({"type": "integer"}, 3)

    # djed-mcp-base: a success, a tool error, bad arguments, a timeout, then denials.
    server = create_server(
        "probe", version="1.0.0", timeout=0.2, rate_limit=Rate(per_second=0.001, burst=8),
        tool_schemas={"echo": {"type": "object", "properties": {"text": {"type": "string"}}}},
    )
    @server.tool()
    async def echo(text: str) -> str:
        return text
    @server.tool()
    async def fail() -> str:
        raise RuntimeError("tool failed")
    @server.tool()
    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"
    build_app(server, allowed_hosts=["127.0.0.1"], metrics=False)  # tracks its sessions

    async def mcp_calls():
        async with Client(server) as client:
            await client.call_tool("echo", {"text": "hi"})
            await client.call_tool("fail", {})
            for name, arguments in (("echo", {"text": 5}), ("slow", {})):
                try:
                    await client.call_tool(name, arguments)
                except MCPError:
                    pass
            for _ in range(20):
                try:
                    await client.call_tool("echo", {"text": "again"})
                except MCPError:
                    break

    # djed-crdt: a writer's edit is stored; a read-only reader's edit is dropped.
    sync = SyncServer(
        MemoryStorage(), authorize=lambda r: "read-only" if r.token == "viewer" else "read-write"
    )
    async def crdt_edits(url):
        async with SyncClient(url, "room", token="editor") as writer:
            writer.doc.get("notes", type=Text).insert(0, "hello")
            await writer.wait_synced(timeout=10)
            async with SyncClient(url, "room", token="viewer") as reader:
                reader.doc.get("notes", type=Text).insert(0, "ignored")
                deadline = time.monotonic() + 10
                while not sync.dropped_read_only and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)

    asyncio.run(mcp_calls())
    with serve(sync.app) as url:
        asyncio.run(crdt_edits(url.replace("http://", "ws://")))
    flush_logs()
    (out / "metrics.txt").write_bytes(generate_latest(REGISTRY))
    """
)


@dataclass
class Exported:
    """What a process using every Djed package exported: series with their labels, log lines."""

    series: dict[str, set[str]]
    families: set[str]
    logs: list[dict[str, Any]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    out = tmp_path_factory.mktemp("exported")
    done = subprocess.run(
        [sys.executable, "-c", COLLECT, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    series: dict[str, set[str]] = {}
    families = set()
    for family in text_string_to_metric_families((out / "metrics.txt").read_text()):
        families.add(family.name)
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    logs = [json.loads(line) for line in (out / "logs.jsonl").read_text().splitlines()]
    return Exported(series, families, logs)


@dataclass
class Rendered:
    """One rendering of the template, parsed."""

    answers: dict[str, Any]
    root: Path
    rules: dict[str, Any]
    monitor: dict[str, Any]
    dashboard: dict[str, Any]
    kustomization: dict[str, Any]
    promtail: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.root / MONITORING


def render(dst: Path, data: Mapping[str, Any], template: str = "monitoring") -> None:
    copier.run_copy(
        str(TEMPLATES / template), dst, data=dict(data), defaults=True, quiet=True, unsafe=False
    )


@pytest.fixture(scope="module", params=["defaults", "custom"])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    dst = tmp_path_factory.mktemp(f"monitoring-{request.param}")
    answers = DEFAULTS if request.param == "defaults" else CUSTOM
    render(dst, {"name": "demo"} if request.param == "defaults" else CUSTOM)
    folder = dst / MONITORING

    def one(name: str) -> dict[str, Any]:
        (doc,) = [d for d in yaml.safe_load_all((folder / name).read_text()) if d is not None]
        assert isinstance(doc, dict)
        return doc

    return Rendered(
        answers=answers,
        root=dst,
        rules=one("prometheusrule.yaml"),
        monitor=one("servicemonitor.yaml"),
        dashboard=json.loads((folder / "dashboards" / "djed-mcp.json").read_text()),
        kustomization=one("kustomization.yaml"),
        promtail=one("logs/promtail.yaml"),
    )


# -- PromQL ------------------------------------------------------------------------------


def as_promql(expr: str) -> str:
    """A Grafana query with its variables replaced, so that a PromQL parser reads it."""
    for variable in GRAFANA_RANGES:
        expr = expr.replace("${" + variable + "}", "5m").replace("$" + variable, "5m")
    return re.sub(r"\$\{?\w+\}?", "placeholder", expr)


@dataclass
class Query:
    """The series one expression reads, the labels it matches on, the labels it groups by."""

    selectors: list[tuple[str, set[str]]] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)


def read_query(expr: str) -> Query:
    """Walk a PromQL expression; raises ValueError when it does not parse."""
    query = Query()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = {m.name: m.value for m in node.matchers.matchers}
            name = node.name or matchers.pop("__name__", None)
            assert name, f"a selector without a metric name in {expr!r}"
            query.selectors.append((name, set(matchers)))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            query.grouping.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                query.grouping.update(node.modifier.matching.labels)
            query.grouping.update(node.modifier.group_labels or [])

    promql_parser.walk(promql_parser.parse(as_promql(expr)), visit)
    return query


def problems(expr: str, exported: Exported) -> list[str]:
    """Every series or label ``expr`` names that the Djed process did not export."""
    try:
        query = read_query(expr)
    except ValueError as error:
        return [f"does not parse: {error}"]
    found: list[str] = []
    known: set[str] = set(TARGET_LABELS)
    for name, labels in query.selectors:
        if name in PROMETHEUS_SERIES:
            exported_labels = set(TARGET_LABELS)
        elif name in exported.series:
            exported_labels = exported.series[name] | TARGET_LABELS
        else:
            found.append(f"{name} is not exported (families: {sorted(exported.families)})")
            continue
        known |= exported_labels
        found += [f"{name} has no label {label}" for label in sorted(labels - exported_labels)]
    found += [f"no series has the label {label}" for label in sorted(query.grouping - known)]
    return found


def dashboard_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[str]:
    """The PromQL of every panel, and the selectors of the label_values() variables."""
    queries = [t["expr"] for p in dashboard_panels(dashboard) for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", text.strip())
        assert match, f"variable {variable['name']}: {text!r} is not label_values(selector, label)"
        queries.append(f"sum by ({match[2]}) ({match[1]})")
    return queries


def rule_queries(rules: Mapping[str, Any]) -> list[str]:
    return [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]


class TestExportedSeries:
    def test_every_package_exports(self, exported: Exported) -> None:
        """The probe process exported series of every package it drove, and log lines."""
        for prefix in (*PACKAGES, "djed_validator_"):
            assert any(name.startswith(prefix) for name in exported.families), prefix
        assert "djed_mcp_request_duration_seconds" in exported.families
        assert "djed_mcp_request_duration_seconds_bucket" in exported.series
        assert "djed_breaker_state" in exported.series
        assert exported.logs


class TestPromQL:
    def test_rules_name_only_exported_series(self, rendered: Rendered, exported: Exported) -> None:
        """Every alert expression parses and reads series and labels Djed exports."""
        queries = rule_queries(rendered.rules)
        assert queries
        assert {q: problems(q, exported) for q in queries} == {q: [] for q in queries}

    def test_dashboard_names_only_exported_series(
        self, rendered: Rendered, exported: Exported
    ) -> None:
        """Every dashboard query parses and reads series and labels Djed exports."""
        queries = dashboard_queries(rendered.dashboard)
        assert len(queries) > 20
        assert {q: problems(q, exported) for q in queries} == {q: [] for q in queries}

    @pytest.mark.parametrize(
        ("before", "after"),
        [
            # A misspelt name, and suffixes on the wrong kind of series.
            ("djed_mcp_request_duration_seconds_bucket", "djed_mcp_request_duration_second_bucket"),
            ("djed_mcp_request_duration_seconds_count", "djed_mcp_request_duration_seconds"),
            ("djed_breaker_calls_total", "djed_breaker_calls"),
            ("djed_breaker_state{", "djed_breaker_state_total{"),
            ("djed_mcp_sessions_active{", "djed_mcp_sessions_active_bucket{"),
            ("djed_crdt_persistence_duration_seconds_sum", "djed_crdt_persistence_duration_sum"),
            ("djed_cache_hits_total", "djed_cache_hit_total"),
            # Labels the series do not have, in a matcher and in a grouping.
            ('mcp_method="tools/call"', 'method="tools/call"'),
            ("by (breaker", "by (breaker_name"),
            # Not PromQL at all.
            ("histogram_quantile(0.95,", "histogram_quantile(0.95"),
        ],
    )
    def test_a_wrong_name_is_caught(
        self, rendered: Rendered, exported: Exported, before: str, after: str
    ) -> None:
        """The same checks fail on a copy of the rules and dashboard with one name changed."""
        dashboard = copy.deepcopy(rendered.dashboard)
        for panel in dashboard_panels(dashboard):
            for target in panel.get("targets", []):
                target["expr"] = target["expr"].replace(before, after)
        rules = copy.deepcopy(rendered.rules)
        for group in rules["spec"]["groups"]:
            for rule in group["rules"]:
                rule["expr"] = rule["expr"].replace(before, after)
        changed = [
            q
            for q in dashboard_queries(dashboard) + rule_queries(rules)
            if q not in dashboard_queries(rendered.dashboard) + rule_queries(rendered.rules)
        ]
        assert changed, f"{before!r} is in no expression"
        assert all(problems(q, exported) for q in changed)

    def test_grafana_variables_become_promql(self) -> None:
        """Ranges become durations, other variables placeholders, before parsing."""
        text = 'rate(x{job=~"$job", ns="${namespace}"}[$__rate_interval])'
        assert as_promql(text) == 'rate(x{job=~"placeholder", ns="placeholder"}[5m])'


class TestRules:
    def test_rule_structure(self, rendered: Rendered) -> None:
        """Named groups; each alert unique, with a severity, a summary and a description."""
        rules = rendered.rules
        assert rules["apiVersion"] == "monitoring.coreos.com/v1"
        assert rules["kind"] == "PrometheusRule"
        assert rules["metadata"]["namespace"] == rendered.answers["namespace"]
        assert rules["metadata"]["labels"]["release"] == rendered.answers["prometheus_release"]
        names = []
        for group in rules["spec"]["groups"]:
            assert group["name"]
            assert group["rules"]
            for rule in group["rules"]:
                assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
                names.append(rule["alert"])
                assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
                assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s"))
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}
                assert rule["annotations"]["summary"]
                assert rule["annotations"]["description"]
        assert len(names) == len(set(names))

    def test_rules_watch_only_this_service(self, rendered: Rendered) -> None:
        """Each series an alert reads is filtered to the service's job and namespace."""
        for expr in rule_queries(rendered.rules):
            text = as_promql(expr)
            for node in _selectors(promql_parser.parse(text)):
                matchers = {m.name: m.value for m in node.matchers.matchers}
                assert matchers.get("job") == rendered.answers["name"], expr
                assert matchers.get("namespace") == rendered.answers["namespace"], expr

    def test_required_alerts(self, rendered: Rendered) -> None:
        """Error rate, p95 latency and open breakers are alerted on, at the chosen thresholds."""
        answers = rendered.answers
        by_name = {
            rule["alert"]: rule["expr"]
            for group in rendered.rules["spec"]["groups"]
            for rule in group["rules"]
        }
        errors = by_name["DjedMCPHighErrorRate"]
        assert "djed_mcp_request_errors_total" in errors
        assert errors.rstrip().endswith(f"> {answers['error_ratio_threshold']}")
        latency = by_name["DjedMCPHighLatency"]
        assert "histogram_quantile(0.95" in latency
        assert "djed_mcp_request_duration_seconds_bucket" in latency
        assert latency.rstrip().endswith(f"> {answers['latency_p95_seconds']}")
        assert 'state=~"open|half_open"' in by_name["DjedCircuitBreakerOpen"]
        sessions = int(by_name["DjedMCPSessionsNearLimit"].rsplit(">", 1)[1])
        assert sessions == int(answers["max_sessions"] * 0.9)
        outbox = by_name["DjedOutboxBacklog"]
        assert outbox.rstrip().endswith(f"> {answers['outbox_depth_threshold']}")


def _selectors(node: Any) -> list[Any]:
    found: list[Any] = []

    def visit(item: Any) -> None:
        if isinstance(item, promql_parser.VectorSelector):
            found.append(item)

    promql_parser.walk(node, visit)
    return found


class TestDashboard:
    def test_structure(self, rendered: Rendered) -> None:
        """One Prometheus datasource variable, unique panel ids, every query on it."""
        dashboard = rendered.dashboard
        assert dashboard["uid"] == "djed-mcp"
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in dashboard_panels(dashboard)]
        assert len(ids) == len(set(ids))
        for panel in dashboard_panels(dashboard):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert 'namespace=~"$namespace"' in target["expr"], panel["title"]
                assert 'job=~"$job"' in target["expr"], panel["title"]

    @pytest.mark.parametrize(
        "needle",
        [
            "djed_mcp_request_duration_seconds_count",  # request rate
            'outcome="error"',  # error rate
            "histogram_quantile(0.5,",  # p50
            "histogram_quantile(0.95,",  # p95
            "djed_mcp_sessions_active",
            "djed_breaker_state",
            "djed_cache_hits_total",
            "djed_cache_misses_total",
            "djed_crdt_connections",
            "djed_crdt_documents",
            "djed_logger_events_total",
        ],
    )
    def test_shows(self, rendered: Rendered, needle: str) -> None:
        """The dashboard shows each of the service's main signals."""
        assert any(needle in q for q in dashboard_queries(rendered.dashboard))

    def test_every_package_is_watched(self, rendered: Rendered) -> None:
        """Dashboard and rules both read series of every package."""
        for queries in (dashboard_queries(rendered.dashboard), rule_queries(rendered.rules)):
            for prefix in PACKAGES:
                assert any(prefix in q for q in queries), prefix


class TestScraping:
    def test_servicemonitor_scrapes_the_kubernetes_service(
        self, rendered: Rendered, tmp_path: Path
    ) -> None:
        """With the same name and namespace, it selects the kubernetes template's Service."""
        answers = rendered.answers
        render(tmp_path, {"name": answers["name"], "namespace": answers["namespace"]}, "kubernetes")
        service = yaml.safe_load((tmp_path / "service.yaml").read_text())
        monitor = rendered.monitor
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["kind"] == "ServiceMonitor"
        assert monitor["metadata"]["labels"]["release"] == answers["prometheus_release"]
        namespaces = monitor["spec"]["namespaceSelector"]["matchNames"]
        assert namespaces == [service["metadata"]["namespace"]]
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector
        assert all(service["metadata"]["labels"].get(k) == v for k, v in selector.items())
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["interval"] == answers["scrape_interval"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        # The job label of the scraped series is the Service's name, as the rules expect.
        assert "jobLabel" not in monitor["spec"]
        assert service["metadata"]["name"] == answers["name"]

    def test_kustomization(self, rendered: Rendered) -> None:
        """It lists both manifests and builds the dashboard ConfigMap from the JSON file."""
        kustomization = rendered.kustomization
        on_disk = {p.name for p in rendered.folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(kustomization["resources"]) == on_disk
        (generator,) = kustomization["configMapGenerator"]
        assert generator["options"]["labels"]["grafana_dashboard"] == "1"
        for name in generator["files"]:
            assert (rendered.folder / name).is_file()

    def test_answers_file(self, rendered: Rendered) -> None:
        """The answers are recorded in the template's own answers file."""
        answers = yaml.safe_load((rendered.root / ANSWERS_FILE).read_text())
        assert {k: answers[k] for k in rendered.answers} == rendered.answers


class TestLogs:
    @staticmethod
    def stages(rendered: Rendered) -> dict[str, Any]:
        (job,) = rendered.promtail["scrape_configs"]
        return {name: body for stage in job["pipeline_stages"] for name, body in stage.items()}

    def test_json_stage_reads_the_fields_djed_logger_writes(
        self, rendered: Rendered, exported: Exported
    ) -> None:
        """Each field the pipeline extracts appears in real djed-logger lines."""
        written = {key for line in exported.logs for key in line}
        expressions = self.stages(rendered)["json"]["expressions"]
        assert {"timestamp", "level", "event", "logger", "trace_id"} <= set(expressions)
        assert set(expressions.values()) <= written, set(expressions.values()) - written

    def test_labels_stay_few(self, rendered: Rendered, exported: Exported) -> None:
        """Only level and service become labels; ids go to structured metadata."""
        stages = self.stages(rendered)
        assert set(stages["labels"]) == {"level", "service"}
        assert {"trace_id", "span_id", "request_id"} <= set(stages["structured_metadata"])
        levels = {line["level"] for line in exported.logs}
        assert levels <= {"debug", "info", "warning", "error", "critical"}

    def test_timestamps_parse(self, rendered: Rendered, exported: Exported) -> None:
        """The timestamp stage reads djed-logger's field in a format it really has."""
        stage = self.stages(rendered)["timestamp"]
        assert stage["source"] == "timestamp"
        assert stage["format"] == "RFC3339Nano"
        rfc3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
        assert all(rfc3339.fullmatch(line["timestamp"]) for line in exported.logs)

    def test_keeps_only_this_service(self, rendered: Rendered) -> None:
        """The scrape keeps the service's pods in its namespace."""
        (job,) = rendered.promtail["scrape_configs"]
        (discovery,) = job["kubernetes_sd_configs"]
        assert discovery["namespaces"]["names"] == [rendered.answers["namespace"]]
        keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
        assert [(r["source_labels"], r["regex"]) for r in keep] == [
            (["__meta_kubernetes_pod_label_app_kubernetes_io_name"], rendered.answers["name"])
        ]

    def test_alloy_pipeline_matches(self, rendered: Rendered) -> None:
        """The Alloy version extracts the same fields and labels as the Promtail one."""
        text = (rendered.folder / "logs" / "djed.alloy").read_text()

        def block(name: str) -> dict[str, str]:
            match = re.search(name + r"\s*\{\s*\w+\s*=\s*\{(.*?)\}", text, re.DOTALL)
            assert match, name
            return dict(re.findall(r"(\w+)\s*=\s*\"(\w*)\"", match[1]))

        stages = self.stages(rendered)
        assert block("stage.json") == stages["json"]["expressions"]
        assert set(block("stage.labels")) == set(stages["labels"])
        assert set(block("stage.structured_metadata")) == set(stages["structured_metadata"])
        assert f'"app.kubernetes.io/name={rendered.answers["name"]}"' in text


class TestQuestions:
    @pytest.mark.parametrize("name", ["Bad_Name", "-lead", "a" * 64, "has.dot"])
    def test_bad_name_is_refused(self, tmp_path: Path, name: str) -> None:
        """A name that cannot be a Service's name stops the rendering."""
        with pytest.raises(ValueError, match="name"):
            render(tmp_path, {"name": name})

    @pytest.mark.parametrize(
        ("answers", "question"),
        [
            ({"error_ratio_threshold": 1.5}, "error_ratio_threshold"),
            ({"latency_p95_seconds": 0}, "latency_p95_seconds"),
            ({"scrape_interval": "soon"}, "scrape_interval"),
            ({"max_sessions": 0}, "max_sessions"),
            ({"prometheus_release": "not valid"}, "prometheus_release"),
        ],
    )
    def test_bad_answers_are_refused(
        self, tmp_path: Path, answers: dict[str, Any], question: str
    ) -> None:
        """Thresholds and labels out of range are refused."""
        with pytest.raises(ValueError, match=question):
            render(tmp_path, {"name": "demo", **answers})
