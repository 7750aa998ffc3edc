"""From what each suite wrote to the rows of the report and the metrics of the gate.

A :class:`Row` is one line of a package's table: Djed's figure, the peer's figure in
the same unit, and their ratio (Djed divided by the peer). Most rows come from a
:class:`Pair` of benchmark cases measured in the same pytest run; the load figures
that the suites compute themselves (paired medians, percentiles under load) are read
from their ``--ratios-json`` documents, and the load tests of ``benchmarks/load/``
bring their rows ready-made (see ``benchmarks/README.md``).

A row with a ``metric`` is followed by the regression gate: its ratio is compared with
the baseline's in the direction the row gives (``lower_is_better``). For a pair of
benchmark cases the gate takes the ratio of the two fastest rounds (``gate_ratio``)
rather than of the medians shown: load from other processes only ever adds time, so
the fastest rounds are what a busy machine disturbs least. Rows without a metric are
shown only, because they are absolute figures (milliseconds, megabytes) or too coarse
to gate (a session count found by a ramp).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

TIME_UNIT = "s"
# The order of the report: leaves first, then the packages built on them.
ORDER = ("logger", "validator", "breaker", "cache", "mcp-base", "crdt", "cli")


def report_order(name: str) -> tuple[int, str]:
    """Sort key putting the known packages in ``ORDER`` and any other after them."""
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def in_report_order(parts: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The items of a mapping keyed by package, in the report's order."""
    return sorted(parts.items(), key=lambda item: report_order(item[0]))


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One line of a table: Djed against a peer, or Djed alone when ``peer`` is None."""

    package: str
    section: str
    name: str
    djed: float | None
    peer: float | None
    peer_name: str | None
    unit: str
    ratio: float | None
    lower_is_better: bool = True
    metric: str | None = None
    gate_ratio: float | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        fields = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in fields})


@dataclasses.dataclass(frozen=True, slots=True)
class Pair:
    """Two cases of one benchmark group: Djed's and its peer's, timed in the same run.

    ``rate`` names the unit of ``1 / time`` (such as ``events/s``) when the row should
    show a rate, higher being better; otherwise the row shows the time per call.
    """

    group: str
    djed: str
    peer: str
    label: str
    rate: str | None = None
    gated: bool = True


# A pair against a peer ten or more times slower is shown but not gated: its ratio mostly
# follows the peer's own noise (two runs of the same code moved it by up to 30%), while
# the same Djed code is gated by its pair against the library underneath it.
PAIRS: dict[str, tuple[Pair, ...]] = {
    "logger": (
        Pair(
            "logger-json-to-file", "djed", "structlog_fastest", "JSON lines to a file", "events/s"
        ),
        Pair("logger-json-to-file", "djed", "stdlib_json", "JSON lines to a file", "events/s"),
        Pair(
            "logger-filtered", "djed", "structlog_fastest", "debug call below the level", "calls/s"
        ),
        Pair("logger-startup", "djed_first_line", "structlog_import", "start-up to the first line"),
    ),
    "validator": (
        *(
            pair
            for group, what in (("validator-valid", "valid"), ("validator-invalid", "invalid"))
            for pair in (
                Pair(group, "djed_fast", "fastjsonschema_raw", f"{what} order, fastjsonschema"),
                Pair(group, "djed_rs", "jsonschema_rs_raw", f"{what} order, jsonschema-rs"),
                Pair(
                    group,
                    "djed_fast",
                    "jsonschema_draft7",
                    f"{what} order, against jsonschema",
                    gated=False,
                ),
            )
        ),
        Pair("validator-compile", "djed_compile", "fastjsonschema_compile", "compiling a schema"),
    ),
    "breaker": (
        Pair("breaker-sync", "djed_decorated", "circuitbreaker", "closed breaker, sync call"),
        Pair("breaker-sync", "djed_decorated", "pybreaker", "closed breaker, sync call"),
        Pair("breaker-async", "djed_decorated", "circuitbreaker", "closed breaker, async call"),
        Pair("breaker-async", "djed_decorated", "aiobreaker", "closed breaker, async call"),
        Pair(
            "retry-first-try",
            "djed_retry",
            "tenacity_decorator",
            "retry, first try succeeds",
            gated=False,
        ),
        Pair("breaker-threads", "djed", "circuitbreaker", "8 threads through one breaker"),
        Pair("breaker-threads", "djed", "pybreaker", "8 threads through one breaker"),
    ),
    "cache": (
        Pair("cache-memory-hit", "djed_get", "cachetools_getitem", "in-process hit, sync"),
        Pair("cache-async-memory-hit", "djed_get", "cashews_get", "in-process hit, async"),
        Pair("cache-cached-hit", "djed_cached", "cachetools_cached", "hit through a decorator"),
        Pair("cache-redis-get", "djed_get", "redis_py_get", "read from Redis"),
    ),
    "mcp-base": (Pair("mcp-call", "djed", "raw", "tool call in process (MCP SDK)"),),
    "crdt": (
        Pair("crdt-b1", "djed_client", "pycrdt_observed", "B1 edits, client document"),
        Pair("crdt-b1", "djed_memory", "pycrdt_relay", "B1 edits through the server, memory"),
        Pair("crdt-b1", "djed_sqlite", "pycrdt_relay", "B1 edits through the server, SQLite"),
    ),
    "cli": (Pair("init-to-green", "djed", "copier", "from nothing to passing tests"),),
}

_TIME_RATIO = re.compile(r"^(?P<djed>djed\w*?)_time_vs_(?P<peer>\w+)$")


def metric_id(package: str, section: str, djed: str, peer: str) -> str:
    """The stable name the gate and the baseline use for one ratio."""
    return f"{package}:{section}:{djed}/{peer}"


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _ratio(djed: float | None, peer: float | None) -> float | None:
    return djed / peer if djed is not None and peer else None


def pair_row(package: str, pair: Pair, cases: Mapping[str, Mapping[str, Any]]) -> Row | None:
    """The row of ``pair`` from per-call statistics, or None when a case was not measured."""
    group = cases.get(pair.group, {})
    djed, peer = group.get(pair.djed), group.get(pair.peer)
    if djed is None or peer is None or not djed.get("median") or not peer.get("median"):
        return None
    djed_s, peer_s = float(djed["median"]), float(peer["median"])
    metric = metric_id(package, pair.group, pair.djed, pair.peer) if pair.gated else None
    fastest = _ratio(_number(djed.get("min")), _number(peer.get("min")))
    if pair.rate is not None:
        return Row(
            package, pair.group, pair.label, 1 / djed_s, 1 / peer_s, pair.peer,
            pair.rate, peer_s / djed_s, lower_is_better=False, metric=metric,
            gate_ratio=None if fastest is None else 1 / fastest,
        )  # fmt: skip
    return Row(
        package, pair.group, pair.label, djed_s, peer_s, pair.peer,
        TIME_UNIT, djed_s / peer_s, lower_is_better=True, metric=metric, gate_ratio=fastest,
    )  # fmt: skip


def package_rows(
    package: str, cases: Mapping[str, Mapping[str, Any]], ratios: Mapping[str, Any]
) -> list[Row]:
    """Every row of one package: its pairs, then the figures only its own JSON has."""
    pairs = PAIRS.get(package)
    if pairs is None:
        rows = list(_generic_rows(package, cases, ratios))
    else:
        rows = [row for pair in pairs if (row := pair_row(package, pair, cases)) is not None]
    extra = _EXTRA_ROWS.get(package)
    if extra is not None:
        rows.extend(extra(package, ratios, cases))
    return rows


def _generic_rows(
    package: str, cases: Mapping[str, Mapping[str, Any]], ratios: Mapping[str, Any]
) -> Iterator[Row]:
    """Rows for a suite the report has no table for: every ``djed..._time_vs_<peer>`` figure."""
    figures = ratios.get("figures", ratios)
    if not isinstance(figures, Mapping):
        return
    for group, named in figures.items():
        flat = named.items() if isinstance(named, Mapping) else [(group, named)]
        section = str(group) if isinstance(named, Mapping) else "figures"
        for name, value in flat:
            match = _TIME_RATIO.match(str(name).rpartition(".")[2])
            ratio = _number(value)
            if match is None or ratio is None:
                continue
            djed_case, peer_case = match["djed"], match["peer"]
            pair = Pair(section, djed_case, peer_case, f"{djed_case} against {peer_case}")
            row = pair_row(package, pair, cases)
            yield row or Row(
                package, section, pair.label, None, None, peer_case, "", ratio,
                lower_is_better=True, metric=metric_id(package, section, djed_case, peer_case),
            )  # fmt: skip


# -- figures a suite computes itself --------------------------------------------------------


def _logger_rows(
    package: str, ratios: Mapping[str, Any], cases: Mapping[str, Mapping[str, Any]]
) -> Iterator[Row]:
    startup = ratios.get("logger-startup")
    if not isinstance(startup, Mapping):
        return
    for key, name, unit, scale in (
        ("djed_share_ms", "Djed's share of start-up time", "ms", 1.0),
        ("djed_share_mb", "Djed's share of start-up memory", "MB", 1.0),
    ):
        value = _number(startup.get(key))
        if value is not None:
            yield Row(package, "logger-startup", name, value * scale, None, None, unit, None)


def _validator_rows(
    package: str, ratios: Mapping[str, Any], cases: Mapping[str, Mapping[str, Any]]
) -> Iterator[Row]:
    load = ratios.get("load")
    if not isinstance(load, Mapping):
        return
    paced = load.get("paced")
    if isinstance(paced, Mapping):
        for key, name, unit in (
            ("per_second", "paced load, rate held", "validations/s"),
            ("rss_growth_percent", "paced load, RSS growth", "%"),
        ):
            value = _number(paced.get(key))
            if value is not None:
                yield Row(package, "validator-load", name, value, None, None, unit, None)
    for threads in (1, 2):
        phase = load.get(f"sustained_{threads}_thread{'s' if threads > 1 else ''}")
        value = _number(phase.get("per_second")) if isinstance(phase, Mapping) else None
        if value is not None:
            name = f"most validations a second, {threads} thread{'s' if threads > 1 else ''}"
            yield Row(package, "validator-load", name, value, None, None, "validations/s", None)


def _cache_rows(
    package: str, ratios: Mapping[str, Any], cases: Mapping[str, Mapping[str, Any]]
) -> Iterator[Row]:
    model = cases.get("cache-model", {}).get("record_predict")
    if model is not None:
        yield Row(
            package, "cache-model", "navigation model, record and predict",
            float(model["median"]), None, None, TIME_UNIT, None,
        )  # fmt: skip
        hit_rate = _number(model.get("extra", {}).get("hit_rate_at_3"))
        if hit_rate is not None:
            name = "navigation model, hit rate of the top 3"
            yield Row(package, "cache-model", name, hit_rate * 100, None, None, "%", None)


def _mcp_rows(
    package: str, ratios: Mapping[str, Any], cases: Mapping[str, Mapping[str, Any]]
) -> Iterator[Row]:
    load = ratios.get("load")
    if not isinstance(load, Mapping):
        return
    through = load.get("throughput")
    if isinstance(through, Mapping):
        sessions = through.get("sessions", 50)
        djed, raw = (
            _number(through.get("djed_calls_per_second")),
            _number(through.get("raw_calls_per_second")),
        )
        ratio = _number(through.get("djed_vs_raw_throughput")) or _ratio(djed, raw)
        yield Row(
            package, "mcp-load", f"calls/s at {sessions} sessions over HTTP", djed, raw, "raw",
            "calls/s", ratio, lower_is_better=False,
            metric=metric_id(package, "mcp-load", "djed_throughput", "raw_throughput"),
        )  # fmt: skip
        by_cpu = _number(through.get("djed_vs_raw_calls_per_cpu_second"))
        if by_cpu is not None:
            yield Row(
                package, "mcp-load", "calls per second of server CPU", None, None, "raw",
                "", by_cpu, lower_is_better=False,
                metric=metric_id(package, "mcp-load", "djed_calls_per_cpu_s", "raw"),
            )  # fmt: skip
        for share in ("p50", "p95", "p99"):
            djed, raw = (_number(through.get(f"{kind}_{share}_ms")) for kind in ("djed", "raw"))
            name = f"{share} latency at {sessions} sessions"
            yield Row(package, "mcp-load", name, djed, raw, "raw", "ms", _ratio(djed, raw))
    ramp = load.get("ramp")
    if isinstance(ramp, Mapping):
        djed, raw = _number(ramp.get("djed_most")), _number(ramp.get("raw_most"))
        yield Row(
            package, "mcp-ramp", "most sessions with p95 under 100 ms", djed, raw, "raw",
            "sessions", _ratio(djed, raw), lower_is_better=False,
        )  # fmt: skip


_CRDT_SERVERS = (("djed_memory", "djed-crdt, memory"), ("djed_sqlite", "djed-crdt, SQLite"))


def _crdt_rows(
    package: str, ratios: Mapping[str, Any], cases: Mapping[str, Mapping[str, Any]]
) -> Iterator[Row]:
    fanout = ratios.get("fanout")
    if not isinstance(fanout, Mapping):
        return
    for readers in sorted(fanout, key=lambda key: int(key) if str(key).isdigit() else 0):
        measured = fanout[readers]
        if not isinstance(measured, Mapping):
            continue
        for share in ("p50", "p99"):
            peer = _number(measured.get(f"pycrdt_websocket_{share}_ms"))
            djed = _number(measured.get(f"djed_memory_{share}_ms"))
            ratio = _number(measured.get(f"djed_memory_vs_pycrdt_websocket_{share}"))
            yield Row(
                package, "crdt-fanout", f"fan-out {share} to {readers} readers, memory",
                djed, peer, "pycrdt_websocket", "ms", ratio or _ratio(djed, peer),
            )  # fmt: skip


_EXTRA_ROWS = {
    "logger": _logger_rows,
    "validator": _validator_rows,
    "cache": _cache_rows,
    "mcp-base": _mcp_rows,
    "crdt": _crdt_rows,
}


# -- the load tests of benchmarks/load ------------------------------------------------------


def load_rows(tests: Mapping[str, Any]) -> list[Row]:
    """The rows the load tests wrote under their keys, read tolerantly."""
    rows: list[Row] = []
    for key, test in tests.items():
        if not isinstance(test, Mapping) or not isinstance(test.get("rows"), list):
            continue
        unit = str(test.get("unit") or "")
        for entry in test["rows"]:
            if not isinstance(entry, Mapping) or "name" not in entry:
                continue
            djed, peer = _number(entry.get("djed")), _number(entry.get("peer"))
            ratio = _number(entry.get("ratio"))
            if ratio is None:
                ratio = _ratio(djed, peer)
            explicit = "lower_is_better" in entry and _number(entry.get("ratio")) is not None
            lower = bool(entry.get("lower_is_better", True))
            peer_name = entry.get("peer_name")
            rows.append(
                Row(
                    "load", str(key), str(entry["name"]), djed, peer,
                    str(peer_name) if peer_name is not None else None,
                    str(entry.get("unit") or unit), ratio, lower_is_better=lower,
                    metric=f"load:{key}:{entry['name']}" if explicit else None,
                )
            )  # fmt: skip
    return rows


def gated_value(row: Row) -> float | None:
    """The ratio the gate compares for ``row``, when the row is gated and has one."""
    value = row.ratio if row.gate_ratio is None else row.gate_ratio
    return value if row.metric is not None and value is not None and value > 0 else None


def load_image(key: str) -> str:
    """The plot name of a load test: its key, prefixed with ``load-`` unless it has it."""
    return key if key.startswith("load-") else f"load-{key}"


def metrics(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """The gated ratios of ``rows``: metric name -> value, direction, package and label."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        value = gated_value(row)
        if row.metric is not None and value is not None:
            found[row.metric] = {
                "value": value,
                "lower_is_better": row.lower_is_better,
                "package": row.package,
                "name": f"{row.section}: {row.name} vs {row.peer_name}",
            }
    return found
