"""The live side of drift monitoring: bin counts of the inputs and outputs the model has seen,
in the bins of the version's baseline (artifacts.baseline), kept per time slice so a caller
can ask for the last hour.

Constant memory: per slice one integer per bin of every monitored feature (a few KB), at
most `max_window / slice_seconds` slices; no request body is kept once it is counted. The
model thread only puts a batch's arrays (references, no copy) on a bounded queue; a thread
of its own bins them, so a request never waits for the counting. When that thread falls
behind, whole batches are dropped and counted (`dropped`), never queued without bound.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from modelship.artifacts.baseline import Baseline
from modelship.artifacts.features import Array, FeatureCounter, rows_of

log = logging.getLogger(__name__)

SLICE_SECONDS: Final = 300  # the window's resolution
MAX_WINDOW_SECONDS: Final = 24 * 3600  # the longest window kept (spec.monitoring.drift.window)
QUEUE_BATCHES: Final = 256


@dataclass
class _Slice:
    start: int  # seconds since the epoch, a multiple of the slice length
    samples: int
    counts: Array  # every feature's bins, one after the other


class DriftMonitor:
    """Bin counts of one served version's traffic (see the module docstring)."""

    def __init__(
        self,
        baseline: Baseline,
        *,
        slice_seconds: int = SLICE_SECONDS,
        max_window: int = MAX_WINDOW_SECONDS,
        queue_batches: int = QUEUE_BATCHES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.baseline = baseline
        self.counter = FeatureCounter(baseline)
        self.slice_seconds = slice_seconds
        self.max_window = max_window
        self.clock = clock
        self.offsets = (*self.counter.offsets.tolist(), self.counter.total_bins)
        self.total_bins = self.counter.total_bins
        self.totals = np.zeros(self.total_bins, dtype=np.int64)  # since the server started
        self.samples = 0
        self.dropped = 0
        self._slices: deque[_Slice] = deque(maxlen=max_window // slice_seconds + 1)
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[dict[str, Array], dict[str, Array]] | None] = queue.Queue(
            maxsize=queue_batches
        )
        self._thread = threading.Thread(target=self._work, name="drift", daemon=True)
        self._thread.start()

    def submit(self, inputs: dict[str, Array], outputs: dict[str, Array]) -> None:
        """Count a batch later, off the caller's thread; dropped (and counted) when the queue
        is full."""
        try:
            self._queue.put_nowait((inputs, outputs))
        except queue.Full:
            self.dropped += 1  # only the model thread submits: no lock needed

    def flush(self) -> None:
        """Wait until every batch submitted so far is counted."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._count(*item)
            except Exception:  # a batch that cannot be binned must not stop the counting
                log.exception("counting a batch for drift monitoring failed")
            finally:
                self._queue.task_done()

    def _count(self, inputs: dict[str, Array], outputs: dict[str, Array]) -> None:
        rows = rows_of(inputs)
        if rows == 0:
            return
        counts = self.counter.count(inputs, outputs)
        start = int(self.clock()) // self.slice_seconds * self.slice_seconds
        with self._lock:
            if not self._slices or self._slices[-1].start != start:
                self._slices.append(_Slice(start, 0, np.zeros(self.total_bins, dtype=np.int64)))
            current = self._slices[-1]
            current.samples += rows
            current.counts += counts
            self.samples += rows
            self.totals += counts

    def window(self, seconds: float | None = None) -> tuple[int, Array]:
        """(rows, bin counts) of the slices that overlap the last `seconds` (default: all
        kept); the slice in progress is included."""
        seconds = self.max_window if seconds is None else min(seconds, self.max_window)
        since = self.clock() - seconds
        samples = 0
        counts = np.zeros(self.total_bins, dtype=np.int64)
        with self._lock:
            for piece in self._slices:
                if piece.start + self.slice_seconds > since:
                    samples += piece.samples
                    counts += piece.counts
        return samples, counts

    def feature_counts(self, counts: Array) -> Iterator[tuple[Any, list[int]]]:
        """Each baseline feature with its part of `counts`."""
        for index, feature in enumerate(self.baseline.features):
            low, high = self.offsets[index], self.offsets[index + 1]
            yield feature, [int(c) for c in counts[low:high]]

    def summary(self, model: str, version: int, seconds: float | None = None) -> dict[str, Any]:
        """The `GET /v1/models/NAME/monitoring` answer."""
        samples, counts = self.window(seconds)
        return {
            "model": model,
            "version": version,
            "baseline": True,
            "windowSeconds": int(self.max_window if seconds is None else seconds),
            "sliceSeconds": self.slice_seconds,
            "samples": samples,
            "dropped": self.dropped,
            "features": [
                {"name": f.name, "source": f.source, "edges": list(f.edges), "counts": part}
                for f, part in self.feature_counts(counts)
            ],
        }


def no_baseline_summary(model: str, version: int | None) -> dict[str, Any]:
    """The answer for a version whose manifest has no baseline (nothing is counted)."""
    return {
        "model": model,
        "version": version,
        "baseline": False,
        "samples": 0,
        "dropped": 0,
        "features": [],
        "message": (
            "this version has no drift baseline in its manifest: record one in training "
            "(ctx.record_baseline) or with modelship push --baseline"
        ),
    }
