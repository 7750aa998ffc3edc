"""The load tests' judgements on made-up data: each must notice what it is there to notice."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text, TransactionEvent

from benchmarks.load._load_checks import crossing, replay
from benchmarks.load._load_common import cdf_series, flatness, record, rss_series

MB = 1_000_000


def _samples(values: list[float], every: float = 0.5) -> list[tuple[float, int]]:
    return [(index * every, int(value * MB)) for index, value in enumerate(values)]


def test_flat_memory_passes_and_the_warm_up_is_left_out() -> None:
    # 30 MB during the warm-up, then 40 MB with a wobble of 0.3 MB.
    values = [30.0] * 8 + [40.0, 40.3, 40.0, 39.8] * 10
    judged = flatness(_samples(values), warm_up=4.0)
    assert judged.baseline_mb == pytest.approx(40.0)
    assert judged.peak_growth_percent == pytest.approx(0.75)
    assert judged.samples == 40


def test_a_slow_leak_shows_as_growth_above_five_percent() -> None:
    values = [40.0 + 0.1 * index for index in range(60)]  # 6 MB over the run
    judged = flatness(_samples(values), warm_up=0.0)
    assert judged.peak_growth_percent > 5.0
    assert judged.end_growth_percent > 5.0


def test_flatness_needs_samples_after_the_warm_up() -> None:
    with pytest.raises(AssertionError, match="only 1 RSS samples"):
        flatness(_samples([40.0, 40.0, 40.0]), warm_up=1.0)


def test_rss_series_is_thinned_and_keeps_the_last_sample() -> None:
    samples = _samples([float(v) for v in range(1001)])
    series = rss_series(samples, points=100)
    assert len(series) <= 102
    assert series[0] == [0.0, 0.0]
    assert series[-1] == [500.0, 1000.0]


def test_cdf_series_rises_to_the_maximum() -> None:
    series = cdf_series([0.001 * n for n in range(1, 1001)], scale=1e3)
    values = [value for value, _ in series]
    assert values == sorted(values)
    assert series[-1] == [1000.0, 100.0]
    assert series[49] == [500.0, 50.0]


def _step(sessions: int, p95: float) -> dict[str, Any]:
    return {"sessions": sessions, "p95_ms": p95}


def test_crossing_between_two_steps_going_up() -> None:
    found = crossing([_step(50, 40.0), _step(75, 80.0), _step(100, 130.0)], 100.0)
    assert (found.under, found.over) == (75, 100)
    assert found.estimate == pytest.approx(85.0)


def test_crossing_found_going_down() -> None:
    found = crossing([_step(25, 90.0), _step(35, 120.0), _step(50, 150.0)], 100.0)
    assert (found.under, found.over) == (25, 35)
    assert found.estimate == pytest.approx(28.3, abs=0.1)


def test_no_crossing_within_the_ramp() -> None:
    found = crossing([_step(50, 10.0), _step(1000, 60.0)], 100.0)
    assert (found.under, found.over, found.estimate) == (1000, None, None)


class _Client:
    """A pycrdt Doc that keeps the update of each marker it inserts, like the load clients."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("text", type=Text)
        self.markers: list[str] = []
        self.updates: list[bytes] = []
        self.doc.observe(self._keep)
        self.keeping = False

    def _keep(self, event: TransactionEvent) -> None:
        if self.keeping:
            self.updates.append(event.update)

    def insert(self, seq: int, at: int = 0) -> None:
        mark = f"[{self.number:03d}:{seq:06d}]"
        self.keeping = True
        self.text.insert(at, mark)
        self.keeping = False
        self.markers.append(mark)

    def journal(self) -> dict[str, Any]:
        encoded = [base64.b64encode(update).decode() for update in self.updates]
        return {
            "client": self.number,
            "document": "doc-0",
            "markers": self.markers,
            "updates": encoded,
        }


def _journal(final: Doc[Any], clients: list[_Client]) -> dict[str, Any]:
    update = base64.b64encode(final.get_update()).decode()
    text = str(final.get("text", type=Text))
    documents = {"doc-0": {"update": update, "text": text}}
    return {"documents": documents, "clients": [client.journal() for client in clients]}


def _two_clients() -> list[_Client]:
    first, second = _Client(0), _Client(1)
    first.insert(0)
    first.insert(1, at=12)
    second.insert(0)
    return [first, second]


def test_replay_of_a_complete_run_finds_nothing() -> None:
    clients = _two_clients()
    final: Doc[Any] = Doc()
    for client in clients:
        for update in client.updates:
            final.apply_update(update)
    assert replay(_journal(final, clients)) == (3, [], [], [], [])


def test_replay_finds_an_edit_the_server_lost() -> None:
    clients = _two_clients()
    final: Doc[Any] = Doc()
    for update in clients[0].updates:  # the second client's edit never made it
        final.apply_update(update)
    found = replay(_journal(final, clients))
    assert found.lost == ["[001:000000]"]
    assert found.grown == ["doc-0"]


def test_replay_finds_text_nobody_wrote() -> None:
    clients = _two_clients()
    final: Doc[Any] = Doc()
    for client in clients:
        for update in client.updates:
            final.apply_update(update)
    final.get("text", type=Text).insert(0, "[777:000000]")
    found = replay(_journal(final, clients))
    assert found.foreign == ["doc-0"]
    assert not found.lost


def test_record_merges_its_key_into_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "load.json"
    path.write_text(json.dumps({"load-other": {"rows": []}}), encoding="utf-8")
    monkeypatch.setenv("DJED_LOAD_JSON", str(path))
    monkeypatch.setenv("DJED_LOAD_CI_FULL", "1")
    monkeypatch.delenv("DJED_LOAD_LONG", raising=False)
    assert record("load-mine", {"rows": [{"name": "x", "djed": 1.0}]}) == path
    document = json.loads(path.read_text(encoding="utf-8"))
    assert set(document) == {"load-other", "load-mine"}
    assert document["load-mine"]["rows"] == [{"name": "x", "djed": 1.0}]
    assert document["load-mine"]["machine"]["variant"] == "ci-full"


def test_record_replaces_a_file_that_is_not_an_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "load.json"
    path.write_text("[1, 2", encoding="utf-8")
    monkeypatch.setenv("DJED_LOAD_JSON", str(path))
    record("load-mine", {"rows": []})
    assert list(json.loads(path.read_text(encoding="utf-8"))) == ["load-mine"]


def test_record_without_the_variable_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJED_LOAD_JSON", raising=False)
    assert record("load-mine", {"rows": []}) is None
