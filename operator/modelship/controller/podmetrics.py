"""Reading the numbers a canary's analysis judges: the serving pods' own Prometheus `/metrics`
(by pod IP, on the serving port) and, for PromQL metrics, a Prometheus' HTTP query API.

Only I/O and the wire format live here; what the numbers mean is `reconcile/analysis.py`'s.
Every request has a timeout and the scrapes of all ModelDeployments share a bounded number of
connections, so a pod that does not answer costs one timeout and never delays the reconcile
of another resource. A pod that cannot be read is reported as such (its measurement is then
Inconclusive), never as a failure of the version.

The previous scrape of each resource is kept in memory as the baseline of the next interval.
It is a cache, not state: after an operator restart the first scrape is a new baseline and the
first measurement comes one interval later.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from modelship.api import AnalysisSpec, RolloutPhase
from modelship.reconcile.analysis import (
    Histogram,
    Measurement,
    PodSample,
    QueryAnswer,
    Scrape,
    ServingCounters,
    measurement,
    measurement_due,
    promql,
)
from modelship.reconcile.owner import LABEL_VERSION
from modelship.reconcile.rollout import is_canary_pod

SCRAPE_TIMEOUT: Final = 3.0
QUERY_TIMEOUT: Final = 5.0
MAX_CONCURRENT_SCRAPES: Final = 16
MAX_EXPOSITION_BYTES: Final = 4 * 1024 * 1024
REQUESTS: Final = "modelship_requests_total"
LATENCY_BUCKET: Final = "modelship_request_duration_seconds_bucket"
QUEUE_FAMILY: Final = "modelship_queue_duration_seconds"
QUEUE_BUCKET: Final = f"{QUEUE_FAMILY}_bucket"
# gRPC statuses that say the server failed (the client's own mistakes are not the version's).
GRPC_SERVER_ERRORS: Final = frozenset(
    {"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DATA_LOSS", "DEADLINE_EXCEEDED", "UNIMPLEMENTED"}
)
IN_FLIGHT_PHASES: Final = (RolloutPhase.PROGRESSING, RolloutPhase.PAUSED)


def is_server_error(code: str | None) -> bool:
    if code is None:
        return False
    if code.isdigit():
        return 500 <= int(code) <= 599
    return code in GRPC_SERVER_ERRORS


def serving_counters(text: str, version: int) -> ServingCounters:
    """One pod's cumulative counters of `version` from its Prometheus text exposition."""
    requests = errors = 0.0
    latency: dict[float, float] = {}
    queue: dict[float, float] | None = None
    wanted = str(version)
    for family in text_string_to_metric_families(text):
        if family.name == QUEUE_FAMILY and queue is None:
            queue = {}  # exported, even before any request waited (batching off)
        for sample in family.samples:
            labels = sample.labels
            if labels.get("version", wanted) != wanted:
                continue
            if sample.name == REQUESTS:
                requests += sample.value
                if is_server_error(labels.get("code")):
                    errors += sample.value
            elif sample.name == LATENCY_BUCKET:
                bound = float(labels["le"])
                latency[bound] = latency.get(bound, 0.0) + sample.value
            elif sample.name == QUEUE_BUCKET:
                queue = {} if queue is None else queue
                bound = float(labels["le"])
                queue[bound] = queue.get(bound, 0.0) + sample.value
    return ServingCounters(
        requests=requests,
        server_errors=errors,
        latency=Histogram(tuple(sorted(latency.items()))),
        queue=None if queue is None else Histogram(tuple(sorted(queue.items()))),
    )


def query_value(answer: Mapping[str, Any]) -> QueryAnswer:
    """The first value of a Prometheus /api/v1/query answer (a vector or a scalar)."""
    if answer.get("status") != "success":
        return QueryAnswer(None, f"Prometheus said: {answer.get('error') or answer.get('status')}")
    data = answer.get("data") or {}
    result = data.get("result")
    pair: Any = None
    if data.get("resultType") in ("scalar", "string"):
        pair = result
    elif isinstance(result, list) and result:
        pair = (result[0] or {}).get("value")
    if pair is None:
        return QueryAnswer(None, "the query returned no result")
    try:
        value = float(pair[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return QueryAnswer(None, "the query's result is not a number")
    if math.isnan(value):
        return QueryAnswer(None, "the query's result is NaN (no data in its range)")
    return QueryAnswer(value)


def scrape_targets(
    pods: Sequence[Mapping[str, Any]], canary_version: int
) -> list[tuple[str, str, int, bool]]:
    """(pod name, IP, version, canary) of each ready, not terminating serving pod; a canary pod
    only when it runs the version being rolled out."""
    targets = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        ip = status.get("podIP")
        if meta.get("deletionTimestamp") or not ip or not _ready(status):
            continue
        try:
            version = int((meta.get("labels") or {}).get(LABEL_VERSION, ""))
        except ValueError:
            continue
        canary = is_canary_pod(pod)
        if canary and version != canary_version:
            continue
        targets.append((str(meta.get("name")), str(ip), version, canary))
    return targets


@dataclass
class PodMetrics:
    """The operator's reader of pod metrics: its connection bound and, per ModelDeployment,
    the last scrape (the baseline of the next interval)."""

    last: dict[tuple[str, str], Scrape] = field(default_factory=dict)
    slots: asyncio.Semaphore | None = None

    def forget(self, key: tuple[str, str]) -> None:
        self.last.pop(key, None)

    async def measure(
        self,
        key: tuple[str, str],
        analysis: AnalysisSpec,
        rollout: Mapping[str, Any],
        pods: Sequence[Mapping[str, Any]],
        port: int,
        now: datetime,
    ) -> tuple[Measurement | None, datetime | None]:
        """The canary's measurement when one is due (a scrape one interval after the last),
        and when the next is due. None, None when no canary is in flight."""
        canary_version = rollout.get("canaryVersion")
        if rollout.get("phase") not in IN_FLIGHT_PHASES or not isinstance(canary_version, int):
            self.forget(key)
            return None, None
        last = self.last.get(key)
        if last is not None and last.canary_version != canary_version:
            last = None
        due = measurement_due(last.time if last else None, analysis.interval, now)
        if now < due:
            return None, due
        scraped = await self.scrape(pods, canary_version, port, now)
        self.last[key] = scraped
        next_due = measurement_due(now, analysis.interval, now)
        if last is None:
            return None, next_due
        stable = rollout.get("stableVersion")
        queries = await self.queries(analysis, canary_version, stable)
        return measurement(last, scraped, queries), next_due

    async def scrape(
        self, pods: Sequence[Mapping[str, Any]], canary_version: int, port: int, now: datetime
    ) -> Scrape:
        targets = scrape_targets(pods, canary_version)
        timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            samples = await asyncio.gather(
                *(self._scrape_pod(session, *target, port) for target in targets)
            )
        return Scrape(now, canary_version, tuple(samples))

    async def queries(
        self, analysis: AnalysisSpec, canary: int, stable: object
    ) -> dict[str, QueryAnswer]:
        metrics = [m for m in analysis.metrics if m.prometheus is not None]
        if not metrics:
            return {}
        timeout = aiohttp.ClientTimeout(total=QUERY_TIMEOUT)
        stable_number = stable if isinstance(stable, int) else None
        async with aiohttp.ClientSession(timeout=timeout) as session:
            answers = await asyncio.gather(
                *(
                    self._query(
                        session,
                        m.prometheus.address,
                        promql(m.prometheus.query, canary, stable_number),
                    )
                    for m in metrics
                    if m.prometheus is not None
                )
            )
        return {m.name: answer for m, answer in zip(metrics, answers, strict=True)}

    def _slots(self) -> asyncio.Semaphore:
        if self.slots is None:
            self.slots = asyncio.Semaphore(MAX_CONCURRENT_SCRAPES)
        return self.slots

    async def _scrape_pod(
        self,
        session: aiohttp.ClientSession,
        name: str,
        ip: str,
        version: int,
        canary: bool,
        port: int,
    ) -> PodSample:
        host = f"[{ip}]" if ":" in ip else ip
        try:
            async with self._slots(), session.get(f"http://{host}:{port}/metrics") as response:
                if response.status != 200:
                    return PodSample(name, version, canary, error=f"HTTP {response.status}")
                body = await response.content.read(MAX_EXPOSITION_BYTES)
            counters = serving_counters(body.decode("utf-8", "replace"), version)
        except TimeoutError:
            return PodSample(name, version, canary, error=f"no answer in {SCRAPE_TIMEOUT:.0f}s")
        except (aiohttp.ClientError, OSError, ValueError) as error:
            return PodSample(name, version, canary, error=f"{type(error).__name__}: {error}")
        return PodSample(name, version, canary, counters=counters)

    async def _query(self, session: aiohttp.ClientSession, address: str, query: str) -> QueryAnswer:
        url = f"{address.rstrip('/')}/api/v1/query"
        try:
            async with self._slots(), session.get(url, params={"query": query}) as response:
                answer = await response.json(content_type=None)
        except TimeoutError:
            return QueryAnswer(None, f"Prometheus at {address} did not answer in time")
        except (aiohttp.ClientError, OSError, ValueError) as error:
            return QueryAnswer(None, f"Prometheus at {address}: {type(error).__name__}: {error}")
        if not isinstance(answer, Mapping):
            return QueryAnswer(None, f"Prometheus at {address} answered something else")
        return query_value(answer)


def _ready(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
