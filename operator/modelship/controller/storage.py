"""The operator's S3 listings, isolated per endpoint: each endpoint has its own small thread
pool, its clients time out quickly, and a listing that passes its deadline is reported as
StorageUnavailable naming the endpoint. A hung store then holds only its own threads, and
the ModelDeployments on every other store keep their poll interval.

One ArtifactStore per (credentials, base path) is kept, so a steady poll costs one listing
and no manifest reads (the store reads a manifest again only when its ETag changes). The
passes between polls (woken by pod and Deployment events while a rollout converges) may reuse
a listing a few seconds old instead of listing again (`Freshness`): at 1,000 converging
ModelDeployments those repeated listings were most of the operator's work. A pass that finds a
listing of the same store still waiting for a thread joins it instead of queueing its own: that
listing starts after the pass did, so it is as fresh as any the pass could make.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelship.artifacts import ArtifactError, ArtifactStore, S3Settings, VersionInfo
from modelship.artifacts.errors import STORAGE_UNAVAILABLE
from modelship.artifacts.s3 import make_s3_client
from modelship.artifacts.uri import StorageUri

AWS_DEFAULT = "the default AWS S3 endpoint"


@dataclass(frozen=True)
class StorageLimits:
    """How much of the operator one S3 endpoint may hold, and for how long."""

    listings_per_endpoint: int = 4
    """Concurrent listings against one endpoint (threads of its own pool)."""
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    attempts: int = 2
    """boto3 attempts per request (1 = no retry); the next poll is the real retry."""
    deadline: float = 15.0
    """Longest a listing may take (never more than the ModelDeployment's poll interval)."""


@dataclass(frozen=True)
class Freshness:
    """When a recent listing of the same store may stand in for a new one."""

    now: datetime
    within: float = 0.0
    """Seconds a listing may be reused for; 0 lists every time."""
    not_before: datetime | None = None
    """A listing that started before this moment is not reused (a training Job ended since,
    and the version it published must be seen)."""

    def allows(self, started: datetime) -> bool:
        age = (self.now - started).total_seconds()
        return 0 <= age < self.within and (self.not_before is None or started >= self.not_before)


@dataclass
class Storage:
    """Clients, artifact stores and thread pools, one set per S3 endpoint."""

    limits: StorageLimits = field(default_factory=StorageLimits)
    _pools: dict[str, ThreadPoolExecutor] = field(default_factory=dict)
    _clients: dict[S3Settings, Any] = field(default_factory=dict)
    _stores: dict[tuple[S3Settings, StorageUri], ArtifactStore] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _recent: dict[tuple[S3Settings, StorageUri], tuple[datetime, list[VersionInfo]]] = field(
        default_factory=dict
    )
    _queued: dict[
        tuple[S3Settings, StorageUri], tuple[object, asyncio.Future[list[VersionInfo]]]
    ] = field(default_factory=dict)
    """Listings submitted to their endpoint's pool that no thread has started yet."""

    def _pool(self, endpoint: str) -> ThreadPoolExecutor:
        if endpoint not in self._pools:
            self._pools[endpoint] = ThreadPoolExecutor(
                max_workers=self.limits.listings_per_endpoint,
                thread_name_prefix=f"s3 {endpoint}",
            )
        return self._pools[endpoint]

    def store(self, settings: S3Settings, uri: StorageUri) -> ArtifactStore:
        with self._lock:  # called from the endpoint's threads
            if settings not in self._clients:
                self._clients[settings] = make_s3_client(
                    settings,
                    concurrency=self.limits.listings_per_endpoint,
                    connect_timeout=self.limits.connect_timeout,
                    read_timeout=self.limits.read_timeout,
                    max_attempts=self.limits.attempts,
                )
            key = (settings, uri)
            if key not in self._stores:
                self._stores[key] = ArtifactStore(self._clients[settings], uri)
            return self._stores[key]

    def recent(
        self, settings: S3Settings, uri: StorageUri, freshness: Freshness
    ) -> list[VersionInfo] | None:
        """The last successful listing of this store, when `freshness` allows reusing it."""
        recent = self._recent.get((settings, uri))
        if recent is None or not freshness.allows(recent[0]):
            return None
        return recent[1]

    async def list_versions(
        self,
        settings: S3Settings,
        uri: StorageUri,
        deadline: float,
    ) -> list[VersionInfo] | ArtifactError:
        """The versions under `uri`, or why they cannot be read within `deadline` seconds.
        A successful listing is remembered with the moment it started, for `recent` (errors
        are never remembered: the next pass tries again)."""
        endpoint = settings.endpoint or AWS_DEFAULT
        deadline = min(deadline, self.limits.deadline)
        key = (settings, uri)
        loop = asyncio.get_running_loop()
        token = object()

        def run() -> list[VersionInfo]:
            with self._lock:
                # From now on a pass that comes lists again: this listing may have begun
                # before that pass's version was published.
                entry = self._queued.get(key)
                if entry is not None and entry[0] is token:
                    del self._queued[key]
                started = datetime.now(UTC)
            versions = self.store(settings, uri).list_versions()
            loop.call_soon_threadsafe(self._remember, key, started, versions)
            return versions

        # Under the lock: the thread cannot start (and leave the queue) before it is queued.
        with self._lock:
            queued = self._queued.get(key)
            if queued is None:
                queued = (token, loop.run_in_executor(self._pool(endpoint), run))
                self._queued[key] = queued
        listing = queued[1]
        try:
            # Shielded: a pass that gives up must not cancel the listing others wait on.
            return await asyncio.wait_for(asyncio.shield(listing), timeout=deadline)
        except ArtifactError as error:
            return error
        except TimeoutError:
            # The thread may stay blocked until the client's own timeouts end it; it holds
            # only this endpoint's pool.
            return ArtifactError(
                STORAGE_UNAVAILABLE,
                f"the S3 endpoint {endpoint} did not answer a listing of {uri} within "
                f"{deadline:g}s; the operator keeps serving the current version and tries "
                "again at the next poll.",
            )

    def _remember(
        self, key: tuple[S3Settings, StorageUri], started: datetime, versions: list[VersionInfo]
    ) -> None:
        last = self._recent.get(key)
        if last is None or last[0] <= started:
            self._recent[key] = (started, versions)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
