from __future__ import annotations

import json
import subprocess
import sys

import pytest
from djed.breaker import BreakerConfigError, BreakerRegistry, CircuitBreaker, breakers


class TestRegistry:
    def test_same_breaker_per_name(self) -> None:
        """get returns one breaker per service name."""
        registry = BreakerRegistry()
        assert registry.get("payments") is registry.get("payments")
        assert registry.get("payments") is not registry.get("email")
        assert "payments" in registry
        assert len(registry) == 2

    def test_layers_of_settings(self) -> None:
        """defaults < services dict < environment < configure()."""
        registry = BreakerRegistry(
            defaults={"open_duration": 10, "minimum_calls": 5},
            services={"payments": {"open_duration": 20, "failure_rate_threshold": 40}},
            environ={
                "DJED_BREAKER_PAYMENTS_FAILURE_RATE_THRESHOLD": "25",
                "DJED_BREAKER_PAYMENTS_WINDOW": "time",
            },
        )
        registry.configure("payments", minimum_calls=8)
        payments = registry.get("payments")
        assert payments.open_duration == 20
        assert payments.failure_rate_threshold == 25
        assert payments.minimum_calls == 8
        assert registry.settings_for("payments")["window"] == "time"

    def test_service_names_map_to_variable_names(self) -> None:
        """Non-alphanumeric characters in a service name become underscores."""
        registry = BreakerRegistry(environ={"DJED_BREAKER_EMAIL_API_OPEN_DURATION": "45"})
        assert registry.get("email-api").open_duration == 45

    def test_bad_environment_value(self) -> None:
        """A bad variable value names the variable."""
        registry = BreakerRegistry(environ={"DJED_BREAKER_PAYMENTS_WINDOW_SIZE": "lots"})
        with pytest.raises(BreakerConfigError, match="DJED_BREAKER_PAYMENTS_WINDOW_SIZE='lots'"):
            registry.get("payments")

    def test_unknown_setting(self) -> None:
        """An unknown setting in the services dict is a BreakerConfigError naming the breaker."""
        registry = BreakerRegistry(services={"payments": {"treshold": 3}})
        with pytest.raises(BreakerConfigError, match="payments"):
            registry.get("payments")

    def test_configure_after_first_use_is_refused(self) -> None:
        """configure after the breaker exists would be silently ignored, so it raises."""
        registry = BreakerRegistry()
        registry.get("payments")
        with pytest.raises(BreakerConfigError, match="before its first use"):
            registry.configure("payments", open_duration=5)

    def test_reset_all(self) -> None:
        """reset_all closes every breaker."""
        registry = BreakerRegistry()
        registry.get("a").force_open()
        registry.reset_all()
        assert registry.get("a").state.value == "closed"

    def test_default_registry(self) -> None:
        """The default instance is a BreakerRegistry."""
        assert isinstance(breakers, BreakerRegistry)
        assert isinstance(breakers.get("djed-test-default"), CircuitBreaker)


_METRICS_SCRIPT = """
import json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
from djed.breaker import CircuitBreaker, CircuitOpenError, Retry
b = CircuitBreaker("payments", consecutive_failures=2)
b.call(lambda: 1)
for _ in range(2):
    try:
        b.call(lambda: 1 / 0)
    except ZeroDivisionError:
        pass
try:
    b.call(lambda: 1)
except CircuitOpenError:
    pass
r = Retry(attempts=3, sleep=lambda s: None)
try:
    r.call(lambda: 1 / 0)
except ZeroDivisionError:
    pass
out = {}
for res in reader.get_metrics_data().resource_metrics:
    for scope in res.scope_metrics:
        for m in scope.metrics:
            for p in m.data.data_points:
                key = m.name + "|" + ",".join(f"{k}={v}" for k, v in sorted(p.attributes.items()))
                out[key] = p.value
print(json.dumps(out))
"""


class TestMetrics:
    def test_instruments(self) -> None:
        """Calls by outcome, state, rejections and retry attempts are exported."""
        result = subprocess.run(
            [sys.executable, "-c", _METRICS_SCRIPT],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        values = json.loads(result.stdout)
        assert values["djed.breaker.calls|breaker=payments,outcome=success"] == 1
        assert values["djed.breaker.calls|breaker=payments,outcome=failure"] == 2
        assert values["djed.breaker.calls|breaker=payments,outcome=rejected"] == 1
        assert values["djed.breaker.state|breaker=payments,state=open"] == 1
        assert values["djed.breaker.state|breaker=payments,state=closed"] == 0
        assert values["djed.breaker.retry.attempts|"] == 2
