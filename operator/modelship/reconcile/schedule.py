"""When to start a training run, and the version number it produces.

`should_start_training` is one pure decision from the spec, the store's versions, the last
run recorded in `status.training`, the training Jobs still running and the clock. A run
starts when no complete version exists (once per training spec: a failed run is not
retried in a loop), when `spec.training` changed, or when its cron schedule is due — and
never while a training Job is still running.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cronsim import CronSim, CronSimError

from modelship.api import ModelDeploymentSpec, TrainingSpec
from modelship.api.reasons import (
    LAST_RUN_FAILED,
    NO_VERSION,
    SCHEDULE_NOT_DUE,
    SCHEDULED,
    TRAINING_NOT_CONFIGURED,
    TRAINING_RUNNING,
    TRAINING_SPEC_CHANGED,
    UP_TO_DATE,
)
from modelship.api.timestamps import parse_timestamp, rfc3339
from modelship.artifacts.versions import VersionInfo

# Reasons: the first three start a run, the others say why none starts.

# What a run trains from. The schedule, the gate and the Job's retry/deadline settings decide
# when a run happens or what is done with its result, not what it makes, so changing them
# does not start a run.
_TRAINED_FROM: Final = ("entrypoint", "image", "workers", "gpu", "resources", "data_uri", "args")


@dataclass(frozen=True)
class TrainingDecision:
    """Whether to start a training run now, and why (the words status and Events show)."""

    start: bool
    reason: str
    message: str
    spec_hash: str | None
    """`training_spec_hash(spec.training)`: record it in `status.training.specHash` whenever
    status.training is written (also when no run starts and none is recorded yet), so a
    later change of spec.training is noticed."""
    next_run: datetime | None = None
    """With a schedule that is not due: when it will be, for the controller to come back."""


def training_spec_hash(training: TrainingSpec) -> str:
    """A short, stable digest of what a run trains from (see `_TRAINED_FROM`)."""
    fields = dataclasses.asdict(training)
    document = {name: fields[name] for name in _TRAINED_FROM}
    # Only when set: the digest of every resource written before env existed stays the same,
    # so upgrading the operator starts no run.
    if training.env:
        document["env"] = fields["env"]
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def next_version_number(versions: Sequence[VersionInfo], *, last_trained: int | None = None) -> int:
    """The number a new run publishes: one above every version folder there is, complete or
    not (an unfinished upload's number is never reused), and above the last run's
    (`status.training.version`; a run that failed before uploading left no folder, but its
    Job `<md>-train-<n>` still holds the name)."""
    highest = max((v.number for v in versions), default=0)
    return max(highest, last_trained or 0) + 1


def should_start_training(
    spec: ModelDeploymentSpec,
    versions: Sequence[VersionInfo],
    last_run: Mapping[str, Any] | None,
    *,
    running_jobs: Sequence[str],
    created: datetime,
    now: datetime,
) -> TrainingDecision:
    """Decide whether a training run starts now.

    `versions`: `ArtifactStore.list_versions()` (decide nothing when the store cannot be
    listed). `last_run`: `status.training` as stored (camelCase: jobName, version, state,
    startTime, specHash), None when absent. `running_jobs`: names of this ModelDeployment's
    training Jobs that have not finished. `created`: metadata.creationTimestamp, the start
    of the schedule before the first run. Times are timezone-aware; cron schedules are UTC.
    """
    training = spec.training
    if training is None:
        return TrainingDecision(
            False, TRAINING_NOT_CONFIGURED, "spec.training is not set; nothing is trained.", None
        )
    spec_hash = training_spec_hash(training)
    if running_jobs:
        names = ", ".join(sorted(running_jobs))
        return TrainingDecision(
            False,
            TRAINING_RUNNING,
            f"training Job {names} is still running; no other run starts until it finishes.",
            spec_hash,
        )

    last = last_run or {}
    last_hash = last.get("specHash")
    last_failed = last.get("state") == "Failed" and last_hash == spec_hash
    uri = spec.model.storage_uri
    if not any(v.state == "complete" for v in versions) and not last_failed:
        return TrainingDecision(
            True,
            NO_VERSION,
            f"no complete version under {uri} yet: training one with {training.entrypoint}.",
            spec_hash,
        )
    if last_hash is not None and last_hash != spec_hash:
        return TrainingDecision(
            True,
            TRAINING_SPEC_CHANGED,
            "spec.training changed since the last run: training a new version.",
            spec_hash,
        )

    next_run = None
    if training.schedule:
        since = parse_timestamp(last.get("startTime")) or created
        next_run = next_cron_time(training.schedule, since)
        if next_run is not None and next_run <= now:
            return TrainingDecision(
                True,
                SCHEDULED,
                f'the schedule "{training.schedule}" was due at {rfc3339(next_run)}: '
                "training a new version.",
                spec_hash,
            )

    if last_failed:
        job = last.get("jobName") or "the last training Job"
        why = f" ({last['reason']}: {last.get('message', '')})" if last.get("reason") else ""
        then = f", or at the next scheduled run ({rfc3339(next_run)})" if next_run else ""
        return TrainingDecision(
            False,
            LAST_RUN_FAILED,
            f"{job} failed{why}. No run starts again with the same spec.training: fix the "
            f"cause and change spec.training (e.g. the image){then}.",
            spec_hash,
            next_run,
        )
    if next_run is not None:
        return TrainingDecision(
            False,
            SCHEDULE_NOT_DUE,
            f'the next scheduled run ("{training.schedule}", UTC) is at {rfc3339(next_run)}.',
            spec_hash,
            next_run,
        )
    return TrainingDecision(
        False,
        UP_TO_DATE,
        "a complete version exists and spec.training has not changed; set "
        "spec.training.schedule to retrain periodically.",
        spec_hash,
    )


def next_cron_time(schedule: str, after: datetime) -> datetime | None:
    """The first time strictly after `after` that the cron schedule (in UTC) names; None for
    a schedule that never fires (e.g. February 30th) or does not parse."""
    start = after.astimezone(UTC).replace(second=0, microsecond=0)
    try:
        return next(CronSim(schedule, start))
    except (CronSimError, ValueError, StopIteration):
        return None
