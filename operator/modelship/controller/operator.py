"""The operator's state, built once at startup and handed to every handler through kopf's
memo: settings, the Kubernetes client and its thread pool, the S3 side (controller/storage.py),
the watch-fed cache, the memory of what was applied, the clock, the reconcile loops and the
leader election. Nothing in controller/ keeps state at module level, so a test builds an
`Operator` with its own clock and runs it like the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from modelship.controller import metrics
from modelship.controller.cache import ObjectCache
from modelship.controller.kube import Kube
from modelship.controller.leader import LeaderElection, LeaseTiming
from modelship.controller.podmetrics import PodMetrics
from modelship.controller.settings import OperatorSettings
from modelship.controller.storage import Storage, StorageLimits

T = TypeVar("T")
Clock = Callable[[], datetime]
LoopKey = tuple[str, str]
PROGRESS_WRITE_INTERVAL = 10.0
"""Seconds between two status writes that only move a rollout's counts."""
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def system_clock(offset: float = 0.0) -> Clock:
    """The wall clock, `offset` seconds ahead (a simulation of a later day; 0 in production)."""
    shift = timedelta(seconds=offset)
    return lambda: datetime.now(UTC) + shift


def own_namespace() -> str:
    """Where this replica runs (for its Lease): POD_NAMESPACE, else the service account's."""
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    with contextlib.suppress(OSError):
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


def own_identity() -> str:
    """Unique per process: a restarted replica is a new candidate, never the old leader."""
    base = os.environ.get("POD_NAME") or os.environ.get("POD_ID") or socket.gethostname()
    return f"{base}_{uuid.uuid4().hex[:8]}"


@dataclass
class Operator:
    settings: OperatorSettings
    kube: Kube
    clock: Clock = field(default_factory=system_clock)
    cache: ObjectCache = field(default_factory=ObjectCache)
    storage: Storage = field(default_factory=Storage)
    leader: LeaderElection | None = None
    applied: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    """When (monotonic) each object was last applied, so an unchanged one is re-applied only
    every REAPPLY_AFTER seconds."""
    loops: dict[LoopKey, asyncio.Task[None]] = field(default_factory=dict)
    wakeups: dict[LoopKey, asyncio.Event] = field(default_factory=dict)
    api_pool: ThreadPoolExecutor | None = None
    reconcile_slots: asyncio.Semaphore | None = None
    pod_metrics: PodMetrics = field(default_factory=PodMetrics)
    """The canary analysis' scrapes of serving pods (and the last one per resource)."""
    specs: dict[LoopKey, tuple[str, int, Any]] = field(default_factory=dict)
    """Each ModelDeployment's parsed spec, by uid and generation (the API server moves the
    generation on every spec change): parsing on every pass was a tenth of the event loop's
    time with hundreds converging."""
    status_written: dict[LoopKey, float] = field(default_factory=dict)
    """When (monotonic) each ModelDeployment's status was last written by this replica."""
    started: bool = False
    """kopf's startup is done: its watches are starting and the caches filling (kopf runs no
    handler, so no reconcile, before every cache has its initial listing)."""

    @classmethod
    def build(cls, settings: OperatorSettings, kube: Kube | None = None) -> Operator:
        kube = kube or Kube.from_environment(connections=settings.api_threads)
        operator = cls(
            settings=settings,
            kube=kube,
            clock=system_clock(settings.clock_offset),
            storage=Storage(StorageLimits(listings_per_endpoint=settings.listings_per_endpoint)),
            api_pool=ThreadPoolExecutor(settings.api_threads, thread_name_prefix="kube"),
        )
        if settings.leader_election:
            operator.leader = LeaderElection(
                kube=kube,
                name=settings.lease_name,
                namespace=settings.lease_namespace or own_namespace(),
                identity=own_identity(),
                timing=LeaseTiming(),
                on_change=operator.leadership_changed,
                run_in_thread=operator.in_thread,
            )
        return operator

    async def in_thread(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A Kubernetes call in the operator's API pool (never S3's, never kopf's loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.api_pool, functools.partial(function, *args, **kwargs)
        )

    def parsed(self, body: Mapping[str, Any], parse: Callable[[Mapping[str, Any]], T]) -> T:
        """`parse(body)`, or what it gave for the same uid and generation."""
        meta = body["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        uid, generation = str(meta.get("uid")), int(meta.get("generation") or 0)
        known = self.specs.get(key)
        if known is not None and known[:2] == (uid, generation):
            return cast(T, known[2])
        value = parse(body)
        self.specs[key] = (uid, generation, value)
        return value

    def status_write_wait(self, key: LoopKey, progress_only: bool, now: float) -> float:
        """Seconds a status patch waits (0: write it now). A patch that only moves a rollout's
        counts (`only_progress`) waits until PROGRESS_WRITE_INTERVAL has passed since the last
        write, and is then folded into whatever the status says by then: with hundreds
        rolling, such writes were about a quarter of the status writes, each decoded again by
        every watcher, while what they said was seconds old when the next one came."""
        written = self.status_written.get(key)
        if not progress_only or written is None:
            return 0.0
        return max(0.0, PROGRESS_WRITE_INTERVAL - (now - written))

    def slots(self) -> asyncio.Semaphore:
        if self.reconcile_slots is None:
            self.reconcile_slots = asyncio.Semaphore(self.settings.max_concurrent_reconciles)
        return self.reconcile_slots

    @property
    def leading(self) -> bool:
        return self.leader is None or self.leader.leading.is_set()

    async def wait_leading(self) -> None:
        if self.leader is not None:
            await self.leader.leading.wait()

    @property
    def ready(self) -> bool:
        """Able to serve: started, and leading or a standby in touch with the Lease."""
        return self.started and (self.leader is None or self.leader.healthy)

    def wake(self, namespace: str | None, name: str | None) -> None:
        if namespace and name and (event := self.wakeups.get((namespace, name))):
            event.set()

    def leadership_changed(self, leading: bool) -> None:
        metrics.LEADER.set(1 if leading else 0)
        # A new leader looks at every ModelDeployment at once instead of at its next poll.
        if leading:
            for event in self.wakeups.values():
                event.set()

    def start_loop(self, key: LoopKey, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if key in self.loops and not self.loops[key].done():
            return
        self.wakeups.setdefault(key, asyncio.Event())
        self.loops[key] = asyncio.create_task(loop(), name=f"reconcile {key[0]}/{key[1]}")

    def stop_loop(self, key: LoopKey) -> None:
        task = self.loops.pop(key, None)
        self.wakeups.pop(key, None)
        self.specs.pop(key, None)
        self.status_written.pop(key, None)
        self.cache.forget(*key)
        self.pod_metrics.forget(key)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        tasks = list(self.loops.values())
        for key in list(self.loops):
            self.stop_loop(key)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.leader is not None:
            await self.leader.release()
        self.storage.close()
        if self.api_pool is not None:
            self.api_pool.shutdown(wait=False, cancel_futures=True)
