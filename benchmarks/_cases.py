"""Per-call statistics of every benchmark case, from pytest-benchmark's JSON output.

pytest-benchmark times rounds; the Djed suites say in ``extra_info`` how many calls
(``calls``) or events (``events_per_round``) one round holds. Dividing by that count
gives times per call, which is what the report tables and the distribution plots show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
_COUNT_KEYS = ("calls", "events_per_round")


def percentile(ordered: Sequence[float], share: float) -> float:
    """The ``share`` percentile (0..100) of sorted values, interpolated linearly."""
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * share / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def calls_per_round(extra_info: Mapping[str, Any]) -> int:
    """How many calls one timed round holds, as the benchmark declared (1 when it did not)."""
    for key in _COUNT_KEYS:
        value = extra_info.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 1


def case_name(benchmark: Mapping[str, Any]) -> str:
    """The case a benchmark measures: ``extra_info["case"]``, else its parameter or name."""
    case = (benchmark.get("extra_info") or {}).get("case")
    if isinstance(case, str) and case:
        return case
    param = benchmark.get("param")
    if isinstance(param, str) and param:
        return param
    return str(benchmark.get("name", "?"))


def summarize(document: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Statistics per group and case, in seconds per call, from one ``--benchmark-json`` file.

    Each case gets ``calls`` (per round), ``rounds``, ``median``, ``mean``, ``min``, ``max``,
    ``p1`` ... ``p99`` (from the recorded rounds when present, else from the quartiles)
    and the ``extra_info`` values that are plain numbers or strings.
    """
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for benchmark in document.get("benchmarks", []):
        stats = benchmark.get("stats") or {}
        if "median" not in stats:
            continue
        extra = benchmark.get("extra_info") or {}
        calls = calls_per_round(extra)
        per_round = sorted(float(value) for value in stats.get("data") or ())
        case: dict[str, Any] = {
            "calls": calls,
            "rounds": int(stats.get("rounds", len(per_round))),
            "median": float(stats["median"]) / calls,
            "mean": float(stats.get("mean", stats["median"])) / calls,
            "min": float(stats.get("min", stats["median"])) / calls,
            "max": float(stats.get("max", stats["median"])) / calls,
        }
        case |= _percentiles(per_round, stats, calls)
        case["extra"] = {
            key: value
            for key, value in extra.items()
            if key != "case"
            and isinstance(value, str | int | float)
            and not isinstance(value, bool)
        }
        group = str(benchmark.get("group") or benchmark.get("fullname") or "ungrouped")
        groups.setdefault(group, {})[case_name(benchmark)] = case
    return groups


def _percentiles(per_round: list[float], stats: Mapping[str, Any], calls: int) -> dict[str, float]:
    if per_round:
        return {f"p{share}": percentile(per_round, share) / calls for share in PERCENTILES}
    # Without the rounds themselves, the quartiles and the extremes are all there is.
    known = {
        1: stats.get("min"),
        5: stats.get("min"),
        25: stats.get("q1"),
        50: stats.get("median"),
        75: stats.get("q3"),
        95: stats.get("max"),
        99: stats.get("max"),
    }
    return {
        f"p{share}": float(value) / calls for share, value in known.items() if value is not None
    }


def merge(summaries: Iterable[Mapping[str, dict[str, dict[str, Any]]]]) -> dict[str, Any]:
    """Several summaries as one (a later case of the same group and name wins)."""
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    for summary in summaries:
        for group, cases in summary.items():
            merged.setdefault(group, {}).update(cases)
    return merged
