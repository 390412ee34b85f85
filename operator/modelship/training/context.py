"""What the trainer hands the user's entrypoint (`TrainingContext`), and this worker's place
in a multi-worker run, read from TF_CONFIG (`TaskInfo`)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelship.artifacts.capture import read_captures
from modelship.artifacts.settings import S3Settings
from modelship.training.errors import INVALID_TF_CONFIG, TrainingError

_TASK_TYPES = ("chief", "worker", "evaluator", "ps")


@dataclass(frozen=True)
class TaskInfo:
    """This process's task in the training cluster (a single worker when TF_CONFIG is unset)."""

    type: str = "worker"
    """"chief", "worker" (or "evaluator"/"ps", which this trainer does not run)."""
    index: int = 0
    cluster: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Task type -> the `host:port` of each task of that type; empty for a single worker."""

    @property
    def num_workers(self) -> int:
        """Processes that train: the chief (if any) and the workers."""
        return max(1, len(self.cluster.get("chief", ())) + len(self.cluster.get("worker", ())))

    @property
    def is_chief(self) -> bool:
        """The one task that publishes: the chief, or worker 0 when there is no chief."""
        if self.type == "chief":
            return True
        return self.type == "worker" and self.index == 0 and not self.cluster.get("chief")


def task_from_tf_config(raw: str | None) -> TaskInfo:
    """Read TF_CONFIG (None or empty: a single worker); InvalidTFConfig when it is not the
    `{"cluster": {...}, "task": {"type": ..., "index": ...}}` TensorFlow expects."""
    if not raw or not raw.strip():
        return TaskInfo()
    try:
        document = json.loads(raw)
    except ValueError as err:
        raise _invalid(f"it is not JSON ({err})") from None
    if not isinstance(document, dict):
        raise _invalid("it is not a JSON object")
    cluster_doc = document.get("cluster") or {}
    task_doc = document.get("task") or {}
    if not isinstance(cluster_doc, dict) or not isinstance(task_doc, dict):
        raise _invalid('"cluster" and "task" must be objects')
    cluster: dict[str, tuple[str, ...]] = {}
    for kind, hosts in cluster_doc.items():
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise _invalid(f'cluster "{kind}" must be a list of "host:port" strings')
        cluster[str(kind)] = tuple(hosts)
    kind = task_doc.get("type", "worker")
    index = task_doc.get("index", 0)
    if kind not in _TASK_TYPES:
        raise _invalid(f"task type {kind!r} is not one of {', '.join(_TASK_TYPES)}")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise _invalid(f"task index {index!r} is not a whole number")
    if cluster and index >= len(cluster.get(kind, ())):
        raise _invalid(
            f"task {kind} {index} is not in the cluster ({len(cluster.get(kind, ()))} {kind}s)"
        )
    return TaskInfo(type=kind, index=index, cluster=cluster)


def _invalid(why: str) -> TrainingError:
    return TrainingError(
        INVALID_TF_CONFIG,
        f"the TF_CONFIG environment variable is not usable: {why}.",
        permanent=True,
    )


@dataclass(frozen=True)
class TrainingContext:
    """Everything a training entrypoint is given. See docs/training.md."""

    strategy: Any
    """The `tf.distribute.Strategy` to build and compile the model under
    (`with ctx.strategy.scope(): ...`): MultiWorkerMirroredStrategy for several workers,
    MirroredStrategy for several local GPUs, else TensorFlow's default strategy."""
    version: int
    """The version number this run publishes."""
    output: str
    """Where versions are published (the model's storage URI, s3://bucket/prefix)."""
    data: str | None
    """The training data's location (--data / spec.training.dataUri), None when not given."""
    scratch_dir: Path
    """A writable folder for this run (checkpoints, downloaded data); it may not outlive it."""
    task: TaskInfo
    """This worker's place in the run (TF_CONFIG)."""
    args: tuple[str, ...] = ()
    """Extra arguments (spec.training.args, or what follows `--` on the command line)."""
    captures: str | None = None
    """Where the serving pods captured requests for this model (spec.monitoring.capture:
    <storageUri>/<model>, batches under <version>/<date>/), None when capture is off. Read
    them with `captured_records()`."""
    s3: S3Settings = field(default_factory=S3Settings, repr=False)
    """How this run reaches S3 (the same access it publishes with)."""

    def captured_records(
        self, *, version: int | None = None, since: datetime.datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """The captured requests, oldest batch first: each a dict with "time", "model",
        "version", "signature", "inputs", "outputs" (excluded names left out, masked ones
        as "hmac-sha256:<hex>" per row) and "masked". `version` keeps one served version's,
        `since` (an aware datetime) only batches written from then on. Nothing when capture
        is off. See docs/capture.md."""
        if self.captures is None:
            return iter(())
        return read_captures(self.captures, self.s3, version=version, since=since)

    baseline_samples: list[Any] = field(default_factory=list, repr=False)
    """What `record_baseline` was given (the last one counts)."""

    def record_baseline(self, sample: Any) -> None:
        """Hand the trainer a sample of the training inputs (an array for a model with one
        input, or a mapping of input name -> array; rows along axis 0, as the serving
        signature takes them). After training, the trainer runs the model on it and records
        the inputs' and outputs' distribution in the version's manifest: the baseline that
        drift monitoring (spec.monitoring.drift) compares live requests with. A few thousand
        rows are plenty; more than 100,000 are thinned."""
        self.baseline_samples[:] = [sample]

    @property
    def is_chief(self) -> bool:
        """Whether this worker publishes the model (log and write summaries only here)."""
        return self.task.is_chief

    @property
    def num_workers(self) -> int:
        return self.task.num_workers
