"""The canary analysis' judgement: from two scrapes of the serving pods' counters to a verdict
per metric, the failures counted against failureLimit and the words of a rollback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelship.api import AnalysisSpec, AnalysisVerdict, parse_spec
from modelship.api.reasons import ANALYSIS_FAILED
from modelship.reconcile.analysis import (
    Histogram,
    Measurement,
    PodSample,
    QueryAnswer,
    Scrape,
    ServingCounters,
    Window,
    analysis_failure,
    judge,
    measurement,
    next_analysis,
    overall,
    passed_since,
    promql,
    window,
)
from tests.unit.reconcile.builders import NOW

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, float("inf"))


def histogram(*observations: float) -> Histogram:
    """Cumulative buckets over BOUNDS, as a server's histogram holds them."""
    return Histogram(tuple((le, float(sum(o <= le for o in observations))) for le in BOUNDS))


def counters(
    requests: int, errors: int = 0, seconds: float = 0.004, **more: Any
) -> ServingCounters:
    return ServingCounters(float(requests), float(errors), histogram(*[seconds] * requests), **more)


def analysis_spec(*metrics: dict[str, Any], failure_limit: int = 2) -> AnalysisSpec:
    spec = parse_spec(
        {
            "model": {"storageUri": "s3://models/digits"},
            "rollout": {
                "strategy": "Canary",
                "steps": [{"weight": 50, "pause": "1m"}],
                "analysis": {"metrics": list(metrics), "failureLimit": failure_limit},
            },
        },
        name="digits",
    )
    assert spec.rollout.analysis is not None
    return spec.rollout.analysis


def measured(
    canary: ServingCounters | None,
    stable: ServingCounters | None = None,
    *,
    version: int = 2,
    minutes: int = 0,
    queries: dict[str, QueryAnswer] | None = None,
) -> Measurement:
    return Measurement(
        version=version,
        time=NOW + timedelta(minutes=minutes),
        canary=Window(version, canary, pods=1 if canary else 0),
        stable=Window(1, stable, pods=1 if stable else 0),
        queries=queries or {},
    )


@pytest.mark.parametrize(
    ("observations", "quantile", "expected"),
    [
        pytest.param([0.004] * 100, 0.99, pytest.approx(0.00495), id="inside-the-first-bucket"),
        pytest.param([0.004] * 98 + [0.2, 0.2], 0.99, pytest.approx(0.175), id="tail-bucket"),
        pytest.param([1.0] * 10, 0.99, 0.25, id="beyond-the-last-bound-is-at-least-it"),
        pytest.param([], 0.99, None, id="no-observations"),
    ],
)
def test_a_quantile_is_interpolated_inside_its_bucket(
    observations: list[float], quantile: float, expected: Any
) -> None:
    assert histogram(*observations).quantile(quantile) == expected


def test_an_interval_counts_only_what_happened_since_the_earlier_scrape() -> None:
    earlier = counters(100, errors=1)
    later = earlier.plus(counters(50, errors=5, seconds=0.2))

    delta = later.since(earlier)

    assert (delta.requests, delta.server_errors) == (50, 5)
    assert delta.latency.quantile(0.99) == pytest.approx(0.2485)


def test_a_restarted_server_counts_from_zero() -> None:
    assert counters(10).since(counters(100)).requests == 10


def test_a_window_leaves_out_pods_without_a_baseline_and_names_unreadable_ones() -> None:
    earlier = Scrape(
        NOW,
        2,
        (PodSample("c1", 2, True, counters(10)), PodSample("s1", 1, False, counters(10))),
    )
    later = Scrape(
        NOW + timedelta(seconds=30),
        2,
        (
            PodSample("c1", 2, True, counters(30)),
            PodSample("c2", 2, True, counters(500)),  # new since the baseline
            PodSample("c3", 2, True, error="no answer in 3s"),
            PodSample("s1", 1, False, counters(40)),
        ),
    )

    canary = window(earlier, later, canary=True)
    stable = window(earlier, later, canary=False)

    assert canary.counters is not None and canary.counters.requests == 20
    assert canary.pods == 1
    assert canary.unreadable == ("c3: no answer in 3s",)
    assert stable.counters is not None and stable.counters.requests == 30
    assert measurement(earlier, later, {}).version == 2


@pytest.mark.parametrize(
    ("metric", "canary", "verdict", "value"),
    [
        pytest.param(
            {"name": "error-rate", "max": 0.01}, counters(200, 1), "Passed", 0.005, id="errors-ok"
        ),
        pytest.param(
            {"name": "error-rate", "max": 0.01}, counters(100, 5), "Failed", 0.05, id="errors-bad"
        ),
        pytest.param(
            {"name": "latency-p99", "max": "100ms"},
            counters(100, seconds=0.2),
            "Failed",
            0.2485,
            id="slow",
        ),
        pytest.param(
            {"name": "latency-p99", "max": "100ms"}, counters(100), "Passed", 0.00495, id="fast"
        ),
        pytest.param(
            {"name": "error-rate", "max": 0.01}, counters(0), "Inconclusive", None, id="idle"
        ),
        pytest.param(
            {"name": "queue-latency", "max": "50ms"},
            counters(100),
            "Inconclusive",
            None,
            id="server-without-queue-metric",
        ),
        pytest.param(
            {"name": "queue-latency", "max": "50ms"},
            counters(100, queue=histogram(*[0.08] * 100)),
            "Failed",
            pytest.approx(0.0995),
            id="queue-slow",
        ),
        pytest.param(
            {"name": "error-rate", "max": 0.01}, None, "Inconclusive", None, id="unreadable"
        ),
    ],
)
def test_each_builtin_metric_is_judged_on_the_canary_with_the_stable_beside_it(
    metric: dict[str, Any], canary: ServingCounters | None, verdict: str, value: Any
) -> None:
    stable = counters(300, seconds=0.004, queue=histogram(*[0.001] * 300))

    (result,) = judge(analysis_spec(metric).metrics, measured(canary, stable))

    assert result.verdict == verdict
    assert result.value == value
    if verdict != "Inconclusive":
        assert result.stable_value is not None
    else:
        assert result.message


def test_a_promql_metric_is_judged_on_the_answer_of_its_query() -> None:
    spec = analysis_spec(
        {
            "name": "business-kpi",
            "max": 0.2,
            "prometheus": {"address": "http://prometheus:9090", "query": "kpi{v='{{canary}}'}"},
        }
    )
    failed = judge(spec.metrics, measured(None, queries={"business-kpi": QueryAnswer(0.5)}))
    unanswered = judge(spec.metrics, measured(None, queries={}))

    assert failed[0].verdict == AnalysisVerdict.FAILED and failed[0].value == 0.5
    assert unanswered[0].verdict == AnalysisVerdict.INCONCLUSIVE
    assert promql("kpi{v='{{canary}}',s='{{stable}}'}", 4, 3) == "kpi{v='4',s='3'}"


def test_one_failed_metric_fails_the_measurement_and_one_unknown_keeps_it_inconclusive() -> None:
    spec = analysis_spec(
        {"name": "error-rate", "max": 0.01},
        {"name": "latency-p99", "max": "100ms"},
        {"name": "queue-latency", "max": "50ms"},
    )
    assert overall(judge(spec.metrics, measured(counters(100, 5)))) == AnalysisVerdict.FAILED
    assert overall(judge(spec.metrics, measured(counters(100)))) == AnalysisVerdict.INCONCLUSIVE
    with_queue = counters(100, queue=histogram(*[0.001] * 100))
    assert overall(judge(spec.metrics, measured(with_queue))) == AnalysisVerdict.PASSED


def test_failures_accumulate_until_the_limit_and_the_finding_gives_the_values() -> None:
    spec = analysis_spec({"name": "latency-p99", "max": "100ms"}, failure_limit=2)
    slow, fast = counters(100, seconds=0.2), counters(100)

    first = next_analysis(None, spec, measured(slow, fast))
    assert (first["measurements"], first["failures"], first["verdict"]) == (1, 1, "Failed")
    assert analysis_failure(first, spec) is None

    second = next_analysis(first, spec, measured(slow, fast, minutes=1))
    finding = analysis_failure(second, spec)

    assert second["failures"] == 2
    assert finding is not None and finding.reason == ANALYSIS_FAILED
    assert "latency-p99 248ms (stable 5ms) above max 100ms" in finding.message
    assert "failed 2 of 2 measurements (failureLimit 2)" in finding.message


def test_a_new_version_starts_its_count_again_and_a_pass_is_remembered() -> None:
    spec = analysis_spec({"name": "error-rate", "max": 0.01})
    failed = next_analysis(None, spec, measured(counters(100, 50), version=2))

    passed = next_analysis(failed, spec, measured(counters(100), version=3, minutes=1))

    assert (passed["version"], passed["failures"], passed["measurements"]) == (3, 0, 1)
    assert passed_since(passed, NOW + timedelta(seconds=30))
    assert not passed_since(failed, NOW - timedelta(hours=1))
