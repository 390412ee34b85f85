"""Gathering the serving pods' drift counts for reconcile.drift: one HTTP GET of
`/v1/models/NAME/monitoring?window=SECONDS` to each Ready serving pod's IP, with a short
timeout and a bounded number in flight, when reconcile.drift says a check is due (at most
once per poll of the resource: the last check's time is in status.monitoring.checkedAt, so a
restart of the operator keeps to it).

A pod that does not answer, or answers something else, is left out; the verdict says how
many of the pods asked answered. The serving pods are reached directly (not through the
Service) because each holds only its own share of the traffic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import aiohttp

from modelship.api import ModelDeploymentSpec, SpecError
from modelship.artifacts import ArtifactError, VersionInfo
from modelship.reconcile.drift import (
    DriftReadings,
    PodSummary,
    drift_check_due,
    parse_pod_summary,
)

log = logging.getLogger("modelship.monitoring")

REQUEST_TIMEOUT: Final = 2.0  # seconds per pod: a slow pod must not hold up the reconcile
CONCURRENCY: Final = 16  # pods asked at once


def ready_pod_addresses(pods: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(pod name, pod IP) of every Ready pod that has an IP."""
    found = []
    for pod in pods:
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        address = status.get("podIP")
        if ready and address and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            found.append((str(pod["metadata"]["name"]), str(address)))
    return found


async def gather_summaries(
    targets: Sequence[tuple[str, str]],
    port: int,
    model: str,
    window: float,
    *,
    timeout: float = REQUEST_TIMEOUT,
    concurrency: int = CONCURRENCY,
) -> list[PodSummary]:
    """Ask every (pod, address) for its counts of the last `window` seconds; the answers
    of those that answered in time."""
    slots = asyncio.Semaphore(concurrency)
    limits = aiohttp.ClientTimeout(total=timeout)

    async def ask(session: aiohttp.ClientSession, pod: str, address: str) -> PodSummary | None:
        host = f"[{address}]" if ":" in address else address  # an IPv6 pod IP
        url = f"http://{host}:{port}/v1/models/{model}/monitoring"
        async with slots:
            try:
                async with session.get(url, params={"window": str(int(window))}) as reply:
                    if reply.status != 200:
                        log.info("drift: pod %s answered HTTP %d", pod, reply.status)
                        return None
                    document = await reply.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                log.info("drift: pod %s did not answer: %s", pod, type(error).__name__)
                return None
        return parse_pod_summary(pod, document)

    async with aiohttp.ClientSession(timeout=limits) as session:
        answers = await asyncio.gather(*(ask(session, pod, ip) for pod, ip in targets))
    return [a for a in answers if a is not None]


async def read_drift(
    spec: ModelDeploymentSpec | SpecError,
    name: str,
    status: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    artifacts: Sequence[VersionInfo] | ArtifactError,
    now: datetime,
    poll_interval: float,
) -> DriftReadings | None:
    """The serving pods' answers when a drift check is due (`drift_check_due`); None otherwise.
    reconcile.drift scores them."""
    check = drift_check_due(spec, name, status, artifacts, now, poll_interval)
    if check is None:
        return None
    targets = ready_pod_addresses(pods)
    summaries = await gather_summaries(targets, check.port, check.model, check.window)
    return DriftReadings(check, tuple(summaries), asked=len(targets))
