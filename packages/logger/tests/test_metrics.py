from __future__ import annotations

import pytest
from djed.logger import configure_logging, get_logger
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from .conftest import Output

_reader = InMemoryMetricReader()


@pytest.fixture(scope="module")
def reader() -> InMemoryMetricReader:
    """A process-wide OpenTelemetry SDK meter provider (it can be set only once)."""
    metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))
    return _reader


def collected(reader: InMemoryMetricReader) -> dict[str, dict[str, int]]:
    data = reader.get_metrics_data()
    assert data is not None
    values: dict[str, dict[str, int]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            if scope.scope.name != "djed.logger":
                continue
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint)
                    level = str(point.attributes.get("level", "")) if point.attributes else ""
                    values.setdefault(metric.name, {})[level] = int(point.value)
    return values


class TestMetrics:
    def test_events_by_level(self, reader: InMemoryMetricReader, output: Output) -> None:
        """djed.logger.events counts rendered events per level."""
        configure_logging(stream=output, format="json")
        before = collected(reader).get("djed.logger.events", {})
        log = get_logger("x")
        log.info("a")
        log.info("b")
        log.error("c")
        after = collected(reader)["djed.logger.events"]
        assert after["info"] - before.get("info", 0) == 2
        assert after["error"] - before.get("error", 0) == 1

    def test_dropped_lines(self, reader: InMemoryMetricReader) -> None:
        """djed.logger.dropped counts lines the output refused."""
        configure_logging(file="/dev/full", buffered=False)
        before = collected(reader).get("djed.logger.dropped", {}).get("", 0)
        for _ in range(3):
            get_logger("x").info("lost")
        assert collected(reader)["djed.logger.dropped"][""] - before == 3
