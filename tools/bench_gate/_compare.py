"""Comparing the ratios of a run with the baseline's, in the direction that is better."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any, Literal

THRESHOLD = 0.20  # a ratio more than 20% worse than the baseline's fails the gate

Status = Literal["ok", "regressed", "missing", "new"]


def worse_by(value: float, baseline: float, *, lower_is_better: bool) -> float:
    """How much worse ``value`` is than ``baseline``, as a fraction (negative: better).

    For a time ratio (lower is better) a value 1.3 times the baseline is 0.3 worse; for
    a throughput ratio (higher is better) a value 1.3 times smaller is 0.3 worse too,
    so both directions weigh a slowdown of the same size alike.
    """
    if value <= 0 or baseline <= 0:
        raise ValueError(f"ratios must be positive, got {value} against {baseline}")
    factor = value / baseline if lower_is_better else baseline / value
    return factor - 1


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate found for one metric."""

    metric: str
    name: str
    package: str
    status: Status
    baseline: float | None
    value: float | None
    lower_is_better: bool
    worse: float | None = None

    @property
    def failed(self) -> bool:
        return self.status in {"regressed", "missing"}


def _entry(metric: str, data: Mapping[str, Any]) -> tuple[str, str, bool, float | None]:
    value = data.get("value")
    number = float(value) if isinstance(value, int | float) and value > 0 else None
    return (
        str(data.get("name", metric)),
        str(data.get("package", metric.partition(":")[0])),
        bool(data.get("lower_is_better", True)),
        number,
    )


def compare(
    run: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Mapping[str, Any]],
    *,
    packages: Collection[str] | None = None,
    threshold: float = THRESHOLD,
    allow_missing: bool = False,
) -> list[Verdict]:
    """A verdict for every baseline metric of ``packages`` (all when None), then new ones.

    A metric of the baseline that the run lacks is ``missing`` (a failure, unless
    ``allow_missing``: a subset was run on purpose); a metric the baseline lacks is
    ``new`` and only reported. The direction comes from the baseline.
    """
    verdicts: list[Verdict] = []
    for metric, data in baseline.items():
        name, package, lower, base = _entry(metric, data)
        if packages is not None and package not in packages:
            continue
        found = run.get(metric)
        value = _entry(metric, found)[3] if found is not None else None
        if base is None:
            continue
        if value is None:
            if not allow_missing:
                verdicts.append(Verdict(metric, name, package, "missing", base, None, lower))
            continue
        worse = worse_by(value, base, lower_is_better=lower)
        status: Status = "regressed" if worse > threshold else "ok"
        verdicts.append(Verdict(metric, name, package, status, base, value, lower, worse))
    for metric, data in run.items():
        name, package, lower, value = _entry(metric, data)
        if metric not in baseline and (packages is None or package in packages):
            verdicts.append(Verdict(metric, name, package, "new", None, value, lower))
    return verdicts


def best_of(
    first: Mapping[str, Mapping[str, Any]], second: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """For every metric, the better of two runs' values (a noisy dip must show twice)."""
    merged: dict[str, dict[str, Any]] = {metric: dict(data) for metric, data in first.items()}
    for metric, data in second.items():
        earlier = merged.get(metric)
        value = _entry(metric, data)[3]
        if earlier is None or value is None:
            merged.setdefault(metric, dict(data))
            continue
        lower = bool(data.get("lower_is_better", True))
        before = _entry(metric, earlier)[3]
        if before is None or (value < before if lower else value > before):
            merged[metric] = dict(data)
    return merged


def table(verdicts: list[Verdict], threshold: float = THRESHOLD) -> list[str]:
    """The verdicts as aligned text lines, failures first, then a count."""
    order = {"regressed": 0, "missing": 1, "ok": 2, "new": 3}
    lines = []
    for verdict in sorted(verdicts, key=lambda v: (order[v.status], v.metric)):
        base = "-" if verdict.baseline is None else f"{verdict.baseline:.3f}"
        value = "-" if verdict.value is None else f"{verdict.value:.3f}"
        line = (
            f"{verdict.status.upper():<9} {verdict.metric:<64} baseline {base:>8}  now {value:>8}"
        )
        if verdict.worse is not None:
            better = "lower" if verdict.lower_is_better else "higher"
            line += f"  {verdict.worse:+6.0%} ({better} is better)"
        lines.append(line)
    failed = sum(verdict.failed for verdict in verdicts)
    compared = sum(verdict.status in {"ok", "regressed"} for verdict in verdicts)
    lines.append(
        f"{compared} ratios compared, {failed} failed"
        f" (a failure: more than {threshold:.0%} worse than the baseline, or missing)"
    )
    return lines
