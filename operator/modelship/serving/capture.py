"""Request capture: a sample of requests (inputs and the model's outputs) written to S3 as
compressed JSON-lines batches, for the next training run (docs/capture.md).

Every protocol reaches the model through the batcher, which hands each answered request's
decoded inputs and outputs to `CaptureSampler.offer` on the event loop. There the sampler
decides at random whether to keep it, drops the excluded inputs and replaces the masked ones
by a keyed hash, all before the record is queued, so what is queued (and can ever be written)
holds neither. The queue is bounded and `offer` never waits: a full queue, or an hourly byte
budget already spent, drops the record and counts it. A background task (`CaptureWriter`)
joins queued records into batches and writes them from a thread of its own, so neither the
event loop nor the model thread waits on S3.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

import numpy as np

from modelship.serving.batching import Arrays

if TYPE_CHECKING:
    from modelship.artifacts.capture import CaptureStore
    from modelship.serving.metrics import ServingMetrics

log = logging.getLogger(__name__)

# Why a sampled record was not written (the `reason` label of the drop counter).
DROP_QUEUE_FULL: Final = "queue_full"
DROP_BYTE_BUDGET: Final = "byte_budget"
DROP_WRITE_FAILED: Final = "write_failed"
DROP_ENCODE_FAILED: Final = "encode_failed"
MASK_PREFIX: Final = "hmac-sha256:"

HOUR: Final = 3600.0
# How long a stopping server gives the last batch: a hung S3 must not eat the pod's grace
# period (what is still queued then is lost, and the log says how much).
STOP_FLUSH_SECONDS: Final = 5.0

Clock = Callable[[], float]
T = TypeVar("T")


@dataclass(frozen=True)
class CaptureConfig:
    """What to capture and where (`modelship serve --capture-*`)."""

    storage_uri: str
    sample_rate: float
    max_bytes_per_hour: int | None = None
    """Budget of uncompressed record bytes per clock hour (None: no limit)."""
    exclude: frozenset[str] = frozenset()
    mask: frozenset[str] = frozenset()
    mask_key: bytes | None = field(default=None, repr=False)
    """The HMAC key; kept out of repr so it never reaches a log line."""
    sse: str | None = None
    kms_key_id: str | None = None
    retention: float | None = None
    """Seconds a batch is kept (None: forever)."""
    pod: str = "server"
    queue_size: int = 1000
    flush_seconds: float = 10.0
    """Longest a queued record waits to be written."""
    batch_bytes: int = 8 * 1024 * 1024
    """A batch is written once its records hold this many (uncompressed) bytes."""
    sweep_seconds: float = HOUR


def mask_rows(key: bytes, name: str, array: np.ndarray[Any, Any]) -> list[str]:
    """One keyed hash per row of `array`: equal rows give equal hashes (so captures can still
    be joined and counted), and without the key nobody can test a guess of the value.
    The input's name is part of the message, so one value hashes differently per input."""
    rows = array.reshape(1, -1) if array.ndim == 0 else array.reshape(array.shape[0], -1)
    hashes = []
    for row in rows:
        if row.dtype.kind in "OSU":
            data = b"\x00".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
        else:
            data = np.ascontiguousarray(row).tobytes()
        digest = hmac.new(key, name.encode() + b"\x00" + data, hashlib.sha256).hexdigest()
        hashes.append(MASK_PREFIX + digest)
    return hashes


def tensor_json(array: np.ndarray[Any, Any]) -> Any:
    """Nested lists; strings as text, or {"b64": ...} where they are not UTF-8."""
    if array.dtype.kind in "OS":
        return _strings(array.tolist())
    return array.tolist()


def _strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def capture_record(
    config: CaptureConfig,
    *,
    model: str,
    version: int,
    signature: str,
    inputs: Arrays,
    outputs: Arrays,
    when: datetime.datetime,
) -> dict[str, Any]:
    """The record of one request. `exclude` and `mask` name inputs or outputs: a model's
    output can echo an input (a greeting holding the name it was given), so what must not be
    written may have to be named on both sides."""
    captured_inputs = _cleaned(config, inputs)
    captured_outputs = _cleaned(config, outputs)
    return {
        "time": when.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "model": model,
        "version": version,
        "signature": signature,
        "inputs": captured_inputs,
        "outputs": captured_outputs,
        "masked": sorted(config.mask & (inputs.keys() | outputs.keys())),
    }


def _cleaned(config: CaptureConfig, tensors: Arrays) -> dict[str, Any]:
    captured: dict[str, Any] = {}
    for name, array in sorted(tensors.items()):
        if name in config.exclude:
            continue
        if name in config.mask:
            # The server refuses --capture-mask without a key, so this holds.
            assert config.mask_key is not None
            captured[name] = mask_rows(config.mask_key, name, array)
        else:
            captured[name] = tensor_json(array)
    return captured


class HourlyBudget:
    """Bytes allowed per clock hour; what does not fit in this hour is refused."""

    def __init__(self, limit: int | None, clock: Clock) -> None:
        self.limit = limit
        self._clock = clock
        self._hour = -1
        self._spent = 0

    def spend(self, size: int) -> bool:
        if self.limit is None:
            return True
        hour = int(self._clock() // HOUR)
        if hour != self._hour:
            self._hour, self._spent = hour, 0
        if self._spent + size > self.limit:
            return False
        self._spent += size
        return True


class CaptureSampler:
    """Chooses, cleans and queues records; never waits."""

    def __init__(
        self,
        config: CaptureConfig,
        model: str,
        metrics: ServingMetrics,
        *,
        clock: Clock,
        wall_clock: Callable[[], datetime.datetime] | None = None,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.model = model
        self.metrics = metrics
        self.queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue(config.queue_size)
        self.budget = HourlyBudget(config.max_bytes_per_hour, clock)
        self._now = wall_clock or (lambda: datetime.datetime.now(datetime.UTC))
        self._chance = chance

    def offer(self, version: int, signature: str, inputs: Arrays, outputs: Arrays) -> None:
        """One answered request; keeps it with probability sample_rate."""
        if self._chance() >= self.config.sample_rate:
            return
        labels = (self.model, str(version))
        if self.queue.full():  # cheapest check first: do not encode what cannot be queued
            self.metrics.capture_dropped.labels(*labels, DROP_QUEUE_FULL).inc()
            return
        try:
            record = capture_record(
                self.config,
                model=self.model,
                version=version,
                signature=signature,
                inputs=inputs,
                outputs=outputs,
                when=self._now(),
            )
            line = json.dumps(record, separators=(",", ":"), allow_nan=True).encode()
        except Exception:
            log.exception("could not encode a captured request; it is dropped")
            self.metrics.capture_dropped.labels(*labels, DROP_ENCODE_FAILED).inc()
            return
        if not self.budget.spend(len(line) + 1):
            self.metrics.capture_dropped.labels(*labels, DROP_BYTE_BUDGET).inc()
            return
        self.queue.put_nowait((version, line))
        self.metrics.capture_sampled.labels(*labels).inc()


def in_thread(function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking S3 call on a daemon thread of its own: never the model thread or the
    event loop, and a call that hangs cannot keep the process from exiting (a thread pool's
    workers are joined at exit)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        try:
            result, error = function(*args), None
        except BaseException as err:
            result, error = None, err
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="capture writer", daemon=True).start()
    return future


class CaptureWriter:
    """Writes queued records to S3 in batches, and sweeps expired batches."""

    def __init__(
        self,
        sampler: CaptureSampler,
        store: CaptureStore,
        *,
        clock: Clock,
        wall_clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self.sampler = sampler
        self.store = store
        self.config = sampler.config
        self._clock = clock
        self._now = wall_clock or (lambda: datetime.datetime.now(datetime.UTC))
        self._sequence = 0
        self._next_sweep = 0.0
        self._collected: list[tuple[int, bytes]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="capture writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Records the cancelled task had taken but not begun to write, then the queue's.
        pending, self._collected = self._collected, []
        while not self.sampler.queue.empty():
            pending.append(self.sampler.queue.get_nowait())
        if not pending:
            return
        try:
            await asyncio.wait_for(self._write(pending), STOP_FLUSH_SECONDS)
        except TimeoutError:
            log.warning(
                "S3 did not take the last %d captured request(s) within %.0fs; they are lost",
                len(pending),
                STOP_FLUSH_SECONDS,
            )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self.sampler.queue
        while True:
            await self._sweep_when_due()
            try:
                first = await asyncio.wait_for(queue.get(), self._until_sweep())
            except TimeoutError:
                continue  # nothing to write: time to sweep
            pending = self._collected = [first]
            size = len(first[1])
            deadline = loop.time() + self.config.flush_seconds
            while size < self.config.batch_bytes:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                pending.append(item)
                size += len(item[1])
            self._collected = []
            await self._write(pending)

    async def _write(self, pending: list[tuple[int, bytes]]) -> None:
        from modelship.artifacts.capture import batch_key, encode_batch

        by_version: dict[int, list[bytes]] = {}
        for version, line in pending:
            by_version.setdefault(version, []).append(line)
        for version, lines in by_version.items():
            self._sequence += 1
            key = batch_key(
                self.store.uri, self.sampler.model, version, self._now(), self.config.pod,
                self._sequence,
            )  # fmt: skip
            labels = (self.sampler.model, str(version))
            try:
                body = encode_batch(lines)
                await in_thread(self.store.put_batch, key, body)
            except Exception as err:
                log.warning("could not write %d captured request(s): %s", len(lines), err)
                self.sampler.metrics.capture_dropped.labels(*labels, DROP_WRITE_FAILED).inc(
                    len(lines)
                )
                continue
            self.sampler.metrics.capture_written.labels(*labels).inc(len(lines))
            self.sampler.metrics.capture_bytes.labels(*labels).inc(len(body))

    def _until_sweep(self) -> float | None:
        if self.config.retention is None:
            return None
        return max(0.1, self._next_sweep - self._clock())

    async def _sweep_when_due(self) -> None:
        if self.config.retention is None or self._clock() < self._next_sweep:
            return
        self._next_sweep = self._clock() + self.config.sweep_seconds
        cutoff = self._now() - datetime.timedelta(seconds=self.config.retention)
        try:
            deleted = await in_thread(self.store.delete_older_than, self.sampler.model, cutoff)
        except Exception as err:
            log.warning("could not delete expired captured requests: %s", err)
            return
        if deleted:
            log.info("deleted %d captured batch(es) older than the retention", deleted)
