"""The canary's automated analysis (`spec.rollout.analysis`), as pure functions: from two
scrapes of the serving pods' own Prometheus counters (one interval apart) and the answers of
any PromQL queries, to a verdict per metric, the new `status.rollout.analysis`, and whether
the failures reached `failureLimit` (the rollout policy then rolls the canary back).

Built-in metrics are measured over the interval only: counters and histograms are cumulative
in each pod, so a value is the difference between the later and the earlier scrape, summed
over the version's pods (a pod that restarted in between counts from zero, as Prometheus'
`increase()` does; a pod absent from either scrape is left out). The stable version is
measured over the same interval, beside the canary, so a person sees both.

A measurement with nothing to judge (no requests, no pod that could be scraped, a query
without a result) is Inconclusive: it neither fails the canary nor lets a pause end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from modelship.api import (
    AnalysisMetric,
    AnalysisSpec,
    AnalysisVerdict,
    MetricResult,
    format_duration,
    to_resource_dict,
)
from modelship.api.reasons import ANALYSIS_FAILED
from modelship.api.spec import LATENCY_METRICS
from modelship.api.timestamps import parse_timestamp, rfc3339
from modelship.reconcile.findings import Finding

ERROR_RATE: Final = "error-rate"
LATENCY_P99: Final = "latency-p99"
QUEUE_LATENCY: Final = "queue-latency"
QUANTILE: Final = 0.99


@dataclass(frozen=True)
class Histogram:
    """A Prometheus histogram as scraped: cumulative counts by upper bound (le), ascending,
    the last one +Inf."""

    buckets: tuple[tuple[float, float], ...] = ()

    @property
    def count(self) -> float:
        return self.buckets[-1][1] if self.buckets else 0.0

    def plus(self, other: Histogram) -> Histogram:
        if not self.buckets:
            return other
        if not other.buckets:
            return self
        mine, theirs = dict(self.buckets), dict(other.buckets)
        bounds = sorted(set(mine) | set(theirs))
        return Histogram(tuple((le, mine.get(le, 0.0) + theirs.get(le, 0.0)) for le in bounds))

    def since(self, earlier: Histogram) -> Histogram:
        """What was observed after `earlier` (a counter that went down restarted from 0)."""
        before = dict(earlier.buckets)
        if any(count < before.get(le, 0.0) for le, count in self.buckets):
            return self
        return Histogram(tuple((le, count - before.get(le, 0.0)) for le, count in self.buckets))

    def quantile(self, q: float) -> float | None:
        """The q-quantile, interpolated linearly inside its bucket (as PromQL's
        histogram_quantile does); None without observations. A quantile in the +Inf bucket
        is the highest finite bound: "at least this"."""
        total = self.count
        if total <= 0:
            return None
        rank = q * total
        lower_bound, lower_count = 0.0, 0.0
        for le, count in self.buckets:
            if count >= rank:
                if math.isinf(le):
                    return lower_bound
                inside = count - lower_count
                if inside <= 0:
                    return le
                return lower_bound + (le - lower_bound) * (rank - lower_count) / inside
            lower_bound, lower_count = le, count
        return lower_bound


@dataclass(frozen=True)
class ServingCounters:
    """One pod's (or one version's) cumulative serving counters."""

    requests: float = 0.0
    server_errors: float = 0.0
    """Requests answered with HTTP 5xx or a gRPC server-side status."""
    latency: Histogram = field(default_factory=Histogram)
    queue: Histogram | None = None
    """Time requests waited in the batching queue; None: the server does not export it."""

    def plus(self, other: ServingCounters) -> ServingCounters:
        queue = self.queue
        if other.queue is not None:
            queue = other.queue if queue is None else queue.plus(other.queue)
        return ServingCounters(
            self.requests + other.requests,
            self.server_errors + other.server_errors,
            self.latency.plus(other.latency),
            queue,
        )

    def since(self, earlier: ServingCounters) -> ServingCounters:
        if self.requests < earlier.requests or self.server_errors < earlier.server_errors:
            return self  # the server restarted: all it counted is new
        queue = self.queue
        if queue is not None and earlier.queue is not None:
            queue = queue.since(earlier.queue)
        return ServingCounters(
            self.requests - earlier.requests,
            self.server_errors - earlier.server_errors,
            self.latency.since(earlier.latency),
            queue,
        )


@dataclass(frozen=True)
class PodSample:
    """One serving pod's counters at a scrape, or why it could not be read."""

    pod: str
    version: int
    canary: bool
    counters: ServingCounters | None = None
    error: str | None = None


@dataclass(frozen=True)
class Scrape:
    """Every ready serving pod of one ModelDeployment, read at one moment."""

    time: datetime
    canary_version: int
    pods: tuple[PodSample, ...]


@dataclass(frozen=True)
class Window:
    """What one version's pods did between two scrapes."""

    version: int | None
    counters: ServingCounters | None
    """Summed over the pods read at both scrapes; None when no pod was."""
    pods: int = 0
    unreadable: tuple[str, ...] = ()
    """"pod: why" for each pod that could not be scraped."""


@dataclass(frozen=True)
class QueryAnswer:
    """A PromQL metric's value at the measurement, or why there is none."""

    value: float | None
    error: str | None = None


@dataclass(frozen=True)
class Measurement:
    """One interval of the canary, as the controller measured it."""

    version: int
    time: datetime
    canary: Window
    stable: Window
    queries: Mapping[str, QueryAnswer] = field(default_factory=dict)


def window(earlier: Scrape, later: Scrape, canary: bool) -> Window:
    """The canary's (or the stable version's) window between two scrapes."""
    before = {s.pod: s for s in earlier.pods if s.canary == canary and s.counters is not None}
    total: ServingCounters | None = None
    pods = 0
    unreadable = []
    versions = set()
    for sample in later.pods:
        if sample.canary != canary:
            continue
        versions.add(sample.version)
        if sample.counters is None:
            unreadable.append(f"{sample.pod}: {sample.error or 'no answer'}")
            continue
        start = before.get(sample.pod)
        if start is None or start.version != sample.version:
            continue  # no baseline for it: its counters cover more than the interval
        delta = sample.counters.since(start.counters or ServingCounters())
        total = delta if total is None else total.plus(delta)
        pods += 1
    version = later.canary_version if canary else (min(versions) if versions else None)
    return Window(version, total, pods, tuple(unreadable))


def measurement(earlier: Scrape, later: Scrape, queries: Mapping[str, QueryAnswer]) -> Measurement:
    return Measurement(
        version=later.canary_version,
        time=later.time,
        canary=window(earlier, later, canary=True),
        stable=window(earlier, later, canary=False),
        queries=queries,
    )


def measurement_due(last_scrape: datetime | None, interval: float, now: datetime) -> datetime:
    """When the next scrape should be taken: now when there is no baseline yet."""
    if last_scrape is None:
        return now
    return last_scrape + timedelta(seconds=interval)


def promql(query: str, canary: int, stable: int | None) -> str:
    """The query with {{canary}} and {{stable}} replaced by the version numbers."""
    return query.replace("{{canary}}", str(canary)).replace(
        "{{stable}}", "" if stable is None else str(stable)
    )


def judge(metrics: Sequence[AnalysisMetric], measured: Measurement) -> list[MetricResult]:
    """Each metric's verdict on one measurement."""
    return [_judge_one(metric, measured) for metric in metrics]


def overall(results: Sequence[MetricResult]) -> AnalysisVerdict:
    """Failed when any metric failed, Passed when all passed, else Inconclusive."""
    verdicts = {r.verdict for r in results}
    if AnalysisVerdict.FAILED in verdicts:
        return AnalysisVerdict.FAILED
    if verdicts == {AnalysisVerdict.PASSED}:
        return AnalysisVerdict.PASSED
    return AnalysisVerdict.INCONCLUSIVE


def fresh_analysis(spec: AnalysisSpec, version: int) -> dict[str, Any]:
    """status.rollout.analysis at the start of a rollout: nothing measured yet."""
    return {
        "version": version,
        "measurements": 0,
        "failures": 0,
        "failureLimit": spec.failure_limit,
    }


def next_analysis(
    previous: Mapping[str, Any] | None, spec: AnalysisSpec, measured: Measurement
) -> dict[str, Any]:
    """status.rollout.analysis after one more measurement of the same version."""
    before = dict(previous or {})
    if before.get("version") != measured.version:
        before = fresh_analysis(spec, measured.version)
    results = judge(spec.metrics, measured)
    verdict = overall(results)
    stamp = rfc3339(measured.time)
    status = {
        **before,
        "failureLimit": spec.failure_limit,
        "measurements": int(before.get("measurements") or 0) + 1,
        "failures": int(before.get("failures") or 0) + (verdict is AnalysisVerdict.FAILED),
        "verdict": verdict.value,
        "time": stamp,
        "results": [to_resource_dict(r) for r in results],
    }
    if verdict is AnalysisVerdict.PASSED:
        status["passedAt"] = stamp
    return status


def analysis_failure(analysis: Mapping[str, Any] | None, spec: AnalysisSpec) -> Finding | None:
    """Why the canary must be rolled back: failureLimit failed measurements, said with the
    values measured; None while under the limit."""
    failures = int((analysis or {}).get("failures") or 0)
    if analysis is None or failures < spec.failure_limit:
        return None
    failed = [r for r in analysis.get("results") or [] if r.get("verdict") == "Failed"]
    said = "; ".join(describe_result(r) for r in failed) or "the last measurement failed"
    return Finding(
        ANALYSIS_FAILED,
        f"the analysis failed {failures} of {analysis.get('measurements', failures)} "
        f"measurements (failureLimit {spec.failure_limit}), last: {said}",
        version=analysis.get("version"),
    )


def passed_since(analysis: Mapping[str, Any] | None, moment: datetime) -> bool:
    """A measurement taken at or after `moment` passed."""
    passed = parse_timestamp((analysis or {}).get("passedAt"))
    return passed is not None and passed >= moment


def describe_result(result: Mapping[str, Any]) -> str:
    """A metric's result in words, e.g. "latency-p99 412ms (stable 398ms) above max 1ms"."""
    name = str(result.get("metric"))
    value, stable, limit = result.get("value"), result.get("stableValue"), result.get("max")
    if value is None:
        return f"{name} inconclusive ({result.get('message') or 'no value'})"
    beside = "" if stable is None else f" (stable {format_value(name, stable)})"
    above = "above" if result.get("verdict") == "Failed" else "within"
    return f"{name} {format_value(name, value)}{beside} {above} max {format_value(name, limit)}"


def format_value(metric: str, value: object) -> str:
    """A value as a person reads it: latencies as durations, rates as percentages."""
    if not isinstance(value, int | float):
        return "-"
    if metric in LATENCY_METRICS:
        if value >= 0.001:
            return format_duration(round(value, 3))
        return f"{value * 1e6:.0f}us"
    if metric == ERROR_RATE:
        return f"{value * 100:.2f}%"
    return f"{value:.4g}"


def _judge_one(metric: AnalysisMetric, measured: Measurement) -> MetricResult:
    limit = metric.limit
    if metric.prometheus is not None:
        answer = measured.queries.get(metric.name) or QueryAnswer(None, "not queried")
        if answer.value is None:
            return _inconclusive(metric, limit, answer.error or "the query returned no result")
        return _result(metric, limit, answer.value, None, None)
    canary, stable = measured.canary, measured.stable
    if canary.counters is None:
        why = f"no pod of version {measured.version} could be read over the whole interval"
        if canary.unreadable:
            why += f" ({'; '.join(canary.unreadable[:3])})"
        return _inconclusive(metric, limit, why)
    requests = int(canary.counters.requests)
    value = _builtin_value(metric.name, canary.counters)
    stable_value = None if stable.counters is None else _builtin_value(metric.name, stable.counters)
    if value is None:
        if metric.name == QUEUE_LATENCY and canary.counters.queue is None:
            why = "the serving pods do not export modelship_queue_duration_seconds"
        elif metric.name == QUEUE_LATENCY and requests:
            why = "no request waited in a batching queue (batching is off or rows unknown)"
        else:
            why = f"version {measured.version} answered no requests in the interval"
        return _inconclusive(metric, limit, why, requests)
    return _result(metric, limit, value, stable_value, requests)


def _builtin_value(name: str, counters: ServingCounters) -> float | None:
    if name == ERROR_RATE:
        return counters.server_errors / counters.requests if counters.requests > 0 else None
    if name == LATENCY_P99:
        return counters.latency.quantile(QUANTILE)
    if name == QUEUE_LATENCY:
        return None if counters.queue is None else counters.queue.quantile(QUANTILE)
    return None


def _result(
    metric: AnalysisMetric,
    limit: float,
    value: float,
    stable: float | None,
    requests: int | None,
) -> MetricResult:
    verdict = AnalysisVerdict.FAILED if value > limit else AnalysisVerdict.PASSED
    return MetricResult(
        metric=metric.name,
        verdict=verdict,
        max=limit,
        value=_rounded(value),
        stable_value=None if stable is None else _rounded(stable),
        requests=requests,
    )


def _inconclusive(
    metric: AnalysisMetric, limit: float, why: str, requests: int | None = None
) -> MetricResult:
    return MetricResult(
        metric=metric.name,
        verdict=AnalysisVerdict.INCONCLUSIVE,
        max=limit,
        requests=requests,
        message=why,
    )


def _rounded(value: float) -> float:
    # Six significant digits: the status stays readable and changes only with the measure.
    return float(f"{value:.6g}")
