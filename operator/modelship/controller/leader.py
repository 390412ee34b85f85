"""Leader election on a `coordination.k8s.io/v1` Lease, as Kubernetes' own controllers do.

Every replica watches and caches (a hot standby); only the replica holding the Lease
reconciles. The holder renews the Lease every `retry_period`; a standby takes it over when
the record has not changed for `lease_duration` as measured on the standby's own monotonic
clock (never by comparing the holder's timestamps with ours, so clock skew cannot cause two
leaders). A leader that cannot renew within `renew_deadline` stops reconciling before any
standby may take over. On a clean shutdown the leader releases the Lease, so a rolling update
hands over at once.

`decide` is the whole policy, a pure function; `LeaderElection` only does the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from kubernetes.client.exceptions import ApiException

from modelship.controller.kube import Kube

LEASE_API = "coordination.k8s.io/v1"
log = logging.getLogger("modelship.leader")


@dataclass(frozen=True)
class LeaseTiming:
    lease_duration: float = 10.0
    """A standby takes over when the Lease has not been renewed for this long."""
    renew_deadline: float = 7.0
    """The leader stops acting when it has not renewed for this long (< lease_duration)."""
    retry_period: float = 2.0
    """How often the Lease is read (standby) or renewed (leader)."""


class Action(Enum):
    CREATE = "create"  # no Lease yet
    RENEW = "renew"  # ours
    TAKE_OVER = "take-over"  # someone else's, expired (or released)
    WAIT = "wait"  # someone else's, alive


@dataclass(frozen=True)
class Observation:
    """What a replica last saw of the Lease: its record and when (our monotonic clock) the
    record last changed."""

    holder: str | None
    renewed: str | None
    changed_at: float


def decide(
    lease: Mapping[str, Any] | None,
    me: str,
    previous: Observation | None,
    now: float,
    timing: LeaseTiming,
) -> tuple[Action, Observation | None]:
    """What to do with the Lease as read now, and what we have now seen of it."""
    if lease is None:
        return Action.CREATE, None
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or None
    renewed = spec.get("renewTime")
    if previous is not None and (previous.holder, previous.renewed) == (holder, renewed):
        seen = previous
    else:
        seen = Observation(holder, renewed, now)
    if holder == me:
        return Action.RENEW, seen
    if holder is None or now - seen.changed_at >= timing.lease_duration:
        return Action.TAKE_OVER, seen
    return Action.WAIT, seen


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_body(
    name: str,
    namespace: str,
    me: str,
    timing: LeaseTiming,
    current: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The Lease held by `me` (a new one, or `current` taken over or renewed)."""
    spec = dict((current or {}).get("spec") or {})
    now = _micro_time()
    if spec.get("holderIdentity") != me:
        spec["acquireTime"] = now
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if current else 0)
    spec.update(holderIdentity=me, leaseDurationSeconds=int(timing.lease_duration), renewTime=now)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if current is not None:
        # Optimistic concurrency: of two replicas writing the same version, one gets 409.
        metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
    return {"apiVersion": LEASE_API, "kind": "Lease", "metadata": metadata, "spec": spec}


@dataclass
class LeaderElection:
    """Holds (or waits for) the Lease; `leading` is set exactly while we may act."""

    kube: Kube
    name: str
    namespace: str
    identity: str
    timing: LeaseTiming = field(default_factory=LeaseTiming)
    on_change: Callable[[bool], Awaitable[None] | None] | None = None
    run_in_thread: Callable[..., Awaitable[Any]] | None = None
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    last_contact: float | None = None
    """When (monotonic) the API server last answered us about the Lease."""
    _renewed_at: float | None = None

    @property
    def healthy(self) -> bool:
        """Able to take part: the Lease could be read recently."""
        return (
            self.last_contact is not None
            and time.monotonic() - self.last_contact < self.timing.lease_duration
        )

    async def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        if self.run_in_thread is not None:
            return await self.run_in_thread(function, *args)
        return await asyncio.to_thread(function, *args)

    async def _set(self, leading: bool) -> None:
        if leading == self.leading.is_set():
            return
        if leading:
            self.leading.set()
            log.info(f"{self.identity} is now the leader ({self.namespace}/{self.name})")
        else:
            self.leading.clear()
            log.warning(f"{self.identity} is no longer the leader")
        if self.on_change is not None:
            result = self.on_change(leading)
            if result is not None:
                await result

    async def run(self) -> None:
        seen: Observation | None = None
        while True:
            try:
                seen = await self._step(seen)
            except ApiException as error:
                if error.status != 409:  # 409: another replica wrote first; read again
                    log.warning(f"the Lease could not be read or written: {error.reason}")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # urllib3's errors are not OSErrors; the loop must live
                log.warning(f"the API server could not be reached for the Lease: {error}")
            if (
                self.leading.is_set()
                and self._renewed_at is not None
                and time.monotonic() - self._renewed_at > self.timing.renew_deadline
            ):
                await self._set(False)
            await asyncio.sleep(self.timing.retry_period)

    async def _step(self, seen: Observation | None) -> Observation | None:
        lease = await self._call(self.kube.get, LEASE_API, "Lease", self.namespace, self.name)
        self.last_contact = time.monotonic()
        action, seen = decide(lease, self.identity, seen, time.monotonic(), self.timing)
        if action is Action.WAIT:
            await self._set(False)
            return seen
        body = lease_body(self.name, self.namespace, self.identity, self.timing, lease)
        if action is Action.CREATE:
            await self._call(self.kube.create, body)
        else:
            await self._call(self.kube.replace, body)
        self._renewed_at = self.last_contact = time.monotonic()
        await self._set(True)
        return None

    async def release(self) -> None:
        """Give the Lease up (on shutdown), so a standby need not wait for it to expire."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        try:
            lease = await self._call(self.kube.get, LEASE_API, "Lease", self.namespace, self.name)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                spec = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
                await self._call(self.kube.replace, {**lease, "spec": spec})
        except Exception as error:  # best effort: a standby takes over when it expires
            log.warning(f"the Lease was not released (a standby waits for it to expire): {error}")
