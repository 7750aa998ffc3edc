"""The PNG plots of the report, drawn with matplotlib from a results document.

* ``ratios.png``: every ratio of the run on one axis, as Djed's time relative to its
  peer's (a rate ratio is turned over), so left of 1 always means Djed is ahead;
* ``<package>-latency.png``: the distribution of the time per call of each case of a
  package's pairs, from the recorded rounds (box from p25 to p75, whiskers p5 to p95);
* ``mcp-base-load.png``: latency percentiles at 50 sessions, then throughput and p95
  latency against the number of sessions of the ramp;
* ``crdt-fanout.png``: fan-out latency percentiles per server and reader count;
* ``load-<test>.png``: the series a load test of ``benchmarks/load`` reported (named by
  its key, which usually starts with ``load-`` already).

Each function returns the files it wrote; a plot without data is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from benchmarks import _figures

_DJED_COLOR, _DJED_LIGHT, _PEER_COLOR = "#1f6f8b", "#6fb3cf", "#c8702a"
_PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # 20, not 2 x 10^1, on log axes
_METADATA = {"Software": None}  # no version stamp: the same figures give the same file


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=90, metadata=_METADATA)
    plt.close(figure)
    return path


def _relative_time(row: _figures.Row) -> float | None:
    if row.ratio is None or row.ratio <= 0:
        return None
    return row.ratio if row.lower_is_better else 1 / row.ratio


def ratios_plot(rows: Sequence[_figures.Row], path: Path) -> Path | None:
    """Every ratio with a peer, as Djed's relative time, on a log axis centred on 1."""
    shown = [
        (f"{row.package}: {row.name} vs {row.peer_name}", value)
        for row in rows
        if row.peer_name and (value := _relative_time(row)) is not None
    ]
    if not shown:
        return None
    figure, axes = plt.subplots(figsize=(9.5, 0.3 * len(shown) + 1.6))
    labels = [label for label, _ in shown][::-1]
    values = [value for _, value in shown][::-1]
    colors = [_DJED_COLOR if value <= 1 else _PEER_COLOR for value in values]
    axes.barh(labels, [value - 1 for value in values], left=1, color=colors)
    for index, value in enumerate(values):
        axes.annotate(
            f"{value:.2g}",
            (value, index),
            xytext=(3 if value > 1 else -3, 0),
            textcoords="offset points",
            ha="left" if value > 1 else "right",
            va="center",
            fontsize=7,
        )
    axes.set_xscale("log")
    low, high = min(values), max(values)
    axes.set_xlim(min(low, 0.5) / 2.5, max(high, 2.0) * 2.5)
    axes.xaxis.set_major_formatter(_PLAIN)
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xlabel("Djed time ÷ peer time (rates turned over): left of 1, Djed is ahead")
    axes.set_title("Every Djed/peer ratio of the run", fontsize=10)
    axes.tick_params(axis="y", labelsize=8)
    axes.grid(axis="x", which="both", alpha=0.3)
    return _save(figure, path)


def _box(case: Mapping[str, Any], label: str) -> dict[str, Any] | None:
    needed = ("p5", "p25", "p50", "p75", "p95")
    if not all(isinstance(case.get(key), int | float) for key in needed):
        return None
    return {
        "label": label,
        "whislo": case["p5"],
        "q1": case["p25"],
        "med": case["p50"],
        "q3": case["p75"],
        "whishi": case["p95"],
        "fliers": [],
    }


def _scale(seconds: float) -> tuple[float, str]:
    for factor, unit in ((1e9, "ns"), (1e6, "µs"), (1e3, "ms")):
        if seconds * factor < 1000:
            return factor, unit
    return 1.0, "s"


def latency_plot(
    package: str, pairs: Sequence[_figures.Pair], cases: Mapping[str, Any], path: Path
) -> Path | None:
    """Per-call time distributions of the cases of ``pairs``, one panel per group."""
    panels: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for pair in pairs:
        group = cases.get(pair.group, {})
        for case in (pair.djed, pair.peer):
            known = [name for name, _ in panels.get(pair.group, [])]
            if case in group and case not in known and group[case].get("rounds", 0) >= 5:
                panels.setdefault(pair.group, []).append((case, group[case]))
    panels = {group: found for group, found in panels.items() if len(found) >= 2}
    if not panels:
        return None
    figure, axes_list = plt.subplots(
        len(panels), 1, figsize=(8, 1.2 + sum(0.45 * len(found) + 0.6 for found in panels.values()))
    )
    axes_seq = list(axes_list) if len(panels) > 1 else [axes_list]
    for axes, (group, found) in zip(axes_seq, panels.items(), strict=True):
        factor, unit = _scale(max(case["p50"] for _, case in found))
        boxes = [
            box
            for name, case in found
            if (box := _box({k: v * factor for k, v in case.items() if k.startswith("p")}, name))
        ]
        drawn = axes.bxp(
            boxes,
            orientation="horizontal",
            showfliers=False,
            patch_artist=True,
            medianprops={"color": "black"},
        )
        for patch, (name, _) in zip(drawn["boxes"], found, strict=False):
            patch.set_facecolor(_DJED_COLOR if name.startswith("djed") else _PEER_COLOR)
            patch.set_alpha(0.7)
        low, high = min(box["whislo"] for box in boxes), max(box["whishi"] for box in boxes)
        if low > 0 and high / low > 20:  # a slow peer would squash the others into a line
            axes.set_xscale("log")
            axes.xaxis.set_major_formatter(_PLAIN)
        axes.set_title(f"{group}: time per call, {unit} (p5, p25, median, p75, p95)", fontsize=9)
        axes.tick_params(labelsize=8)
        axes.grid(axis="x", alpha=0.3)
    figure.suptitle(f"djed-{package}: distribution over the measured rounds", fontsize=10)
    return _save(figure, path)


def _series_color(name: str, index: int) -> str:
    if not name.startswith("djed"):
        return _PEER_COLOR
    return _DJED_COLOR if index == 0 else _DJED_LIGHT


def _percentile_bars(
    axes: Any, measured: Mapping[str, Mapping[str, float]], title: str, log: bool = False
) -> None:
    shares: list[str] = []
    for values in measured.values():
        shares += [share for share in values if share not in shares]
    width = 0.8 / max(len(measured), 1)
    djed_seen = 0
    for index, (name, values) in enumerate(measured.items()):
        positions = [shares.index(share) + index * width for share in values]
        color = _series_color(name, djed_seen)
        djed_seen += name.startswith("djed")
        axes.bar(positions, list(values.values()), width=width, label=name, color=color)
    axes.set_xticks([i + width * (len(measured) - 1) / 2 for i in range(len(shares))], shares)
    axes.set_ylabel("ms")
    if log:
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(_PLAIN)
        axes.yaxis.set_minor_formatter(_PLAIN)
        axes.tick_params(axis="y", which="minor", labelsize=7)
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)


def mcp_load_plot(figures: Mapping[str, Any], path: Path) -> Path | None:
    """Latency percentiles at the fixed session count, and the ramp against sessions."""
    load = figures.get("load")
    if not isinstance(load, Mapping):
        return None
    through, ramp = load.get("throughput"), load.get("ramp")
    panels = int(isinstance(through, Mapping)) + 2 * int(isinstance(ramp, Mapping))
    if not panels:
        return None
    figure, axes_list = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6))
    axes_iter = iter(list(axes_list) if panels > 1 else [axes_list])
    if isinstance(through, Mapping):
        measured = {
            kind: {
                share: float(through[f"{kind}_{share}_ms"])
                for share in ("p50", "p95", "p99")
                if isinstance(through.get(f"{kind}_{share}_ms"), int | float)
            }
            for kind in ("raw", "djed")
        }
        sessions = through.get("sessions", "?")
        _percentile_bars(next(axes_iter), measured, f"latency at {sessions} sessions")
    if isinstance(ramp, Mapping):
        steps = [step for step in ramp.get("steps", []) if isinstance(step, Mapping)]
        rate_axes, p95_axes = next(axes_iter), next(axes_iter)
        for kind in ("raw", "djed"):
            points = [(step["sessions"], step[kind]) for step in steps if kind in step]
            color = _DJED_COLOR if kind == "djed" else _PEER_COLOR
            xs = [sessions for sessions, _ in points]
            rate_axes.plot(
                xs, [m["calls_per_second"] for _, m in points], "o-", color=color, label=kind
            )
            p95_axes.plot(xs, [m["p95_ms"] for _, m in points], "o-", color=color, label=kind)
        p95_axes.axhline(100, color="grey", linestyle="--", linewidth=0.8)
        for axes, label in ((rate_axes, "calls/s"), (p95_axes, "p95 latency, ms")):
            axes.set_xlabel("concurrent sessions")
            axes.set_ylabel(label)
            axes.legend(fontsize=8)
            axes.grid(alpha=0.3)
        rate_axes.set_title("throughput against sessions", fontsize=9)
        p95_axes.set_title("p95 against sessions (ramp)", fontsize=9)
    figure.suptitle("djed-mcp-base against the raw MCP SDK over streamable HTTP", fontsize=10)
    return _save(figure, path)


_CRDT_SERVERS = ("djed_memory", "djed_sqlite", "pycrdt_websocket")


def crdt_fanout_plot(figures: Mapping[str, Any], path: Path) -> Path | None:
    """Fan-out latency percentiles per server, one panel per reader count, and p99 by readers."""
    fanout = figures.get("fanout")
    if not isinstance(fanout, Mapping) or not fanout:
        return None
    counts = sorted(fanout, key=lambda key: int(key) if str(key).isdigit() else 0)
    figure, axes_list = plt.subplots(1, len(counts) + 1, figsize=(4.2 * (len(counts) + 1), 3.6))
    axes_seq = list(axes_list)
    for axes, readers in zip(axes_seq, counts, strict=False):
        measured = fanout[readers]
        bars = {
            server: {
                share: float(measured[f"{server}_{share}_ms"])
                for share in ("p50", "p99", "max")
                if isinstance(measured.get(f"{server}_{share}_ms"), int | float)
            }
            for server in _CRDT_SERVERS
        }
        _percentile_bars(axes, bars, f"fan-out to {readers} readers", log=True)
    trend = axes_seq[-1]
    for index, server in enumerate(_CRDT_SERVERS):
        points = [
            (int(readers), float(fanout[readers][f"{server}_p99_ms"]))
            for readers in counts
            if str(readers).isdigit()
            and isinstance(fanout[readers].get(f"{server}_p99_ms"), int | float)
        ]
        if points:
            color = _series_color(server, index)
            trend.plot(*zip(*points, strict=True), "o-", label=server, color=color)
    trend.set_xlabel("readers per document")
    trend.set_ylabel("p99 fan-out latency, ms")
    trend.set_title("p99 against readers", fontsize=9)
    trend.legend(fontsize=8)
    trend.grid(alpha=0.3)
    figure.suptitle("djed-crdt against pycrdt-websocket: edit to every reader", fontsize=10)
    return _save(figure, path)


def series_plot(key: str, test: Mapping[str, Any], path: Path) -> Path | None:
    """The ``series`` of one load test, every curve on one axis."""
    series = test.get("series")
    if not isinstance(series, Mapping):
        return None
    curves: dict[str, list[tuple[float, float]]] = {}
    for name, points in series.items():
        if not isinstance(points, list):
            continue
        clean = [
            (float(point[0]), float(point[1]))
            for point in points
            if isinstance(point, list | tuple)
            and len(point) == 2
            and all(isinstance(v, int | float) and math.isfinite(v) for v in point)
        ]
        if clean:
            curves[str(name)] = clean
    if not curves:
        return None
    figure, axes = plt.subplots(figsize=(7, 3.8))
    djed_seen = 0
    for name, points in curves.items():
        marker = "o-" if len(points) <= 30 else "-"
        djed = "djed" in name.lower()
        color = (_DJED_COLOR if djed_seen == 0 else _DJED_LIGHT) if djed else None
        if not djed and len(curves) == 2:
            color = _PEER_COLOR  # one Djed curve against one peer: the usual pair of colours
        djed_seen += djed
        axes.plot(*zip(*points, strict=True), marker, label=name, markersize=4, color=color)
    xs = [x for points in curves.values() for x, _ in points]
    if min(xs) > 0 and max(xs) / min(xs) > 100:  # latencies spanning orders of magnitude
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(_PLAIN)
    labels = test.get("series_labels")
    if isinstance(labels, Mapping):
        axes.set_xlabel(str(labels.get("x", "")))
        axes.set_ylabel(str(labels.get("y", "")))
    axes.set_title(str(test.get("title") or key), fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _save(figure, path)


def draw_all(
    document: Mapping[str, Any], rows: Sequence[_figures.Row], folder: Path
) -> dict[str, Path]:
    """Every plot of a results document, by what it shows: ``ratios``, a package, a load test."""
    drawn: dict[str, Path | None] = {"ratios": ratios_plot(rows, folder / "ratios.png")}
    for package, part in document.get("packages", {}).items():
        pairs = _figures.PAIRS.get(package, ())
        cases = part.get("cases", {})
        drawn[f"{package}-latency"] = latency_plot(
            package, pairs, cases, folder / f"{package}-latency.png"
        )
        if package == "mcp-base":
            drawn["mcp-base-load"] = mcp_load_plot(
                part.get("figures", {}), folder / "mcp-base-load.png"
            )
        if package == "crdt":
            drawn["crdt-fanout"] = crdt_fanout_plot(
                part.get("figures", {}), folder / "crdt-fanout.png"
            )
    load = document.get("load")
    if isinstance(load, Mapping):
        for key, test in load.get("tests", {}).items():
            if isinstance(test, Mapping):
                name = _figures.load_image(key)
                drawn[name] = series_plot(key, test, folder / f"{name}.png")
    return {name: path for name, path in drawn.items() if path is not None}
