"""What the planners read from any Job of ours (training or optimization runs): which pods
belong to it, whether and when it finished, which finished Jobs to delete, and the API's
time format. Pure functions of the objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from modelship.api.timestamps import parse_timestamp

JOB_NAME_LABEL: Final = "batch.kubernetes.io/job-name"
KEPT_FINISHED_JOBS: Final = 3
"""Finished Jobs kept for `kubectl logs`; older ones are deleted (their record is the store)."""


def job_of(pod: Mapping[str, Any]) -> str | None:
    """The Job a pod belongs to (the label's old name too, for pods made before 1.27)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(JOB_NAME_LABEL) or labels.get("job-name")


def job_end(job: Mapping[str, Any]) -> datetime | None:
    """When the Job completed or failed (its Complete or Failed condition), if it did."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            moment = parse_timestamp(condition.get("lastTransitionTime"))
            return moment or datetime.min.replace(tzinfo=UTC)  # finished, time unknown
    return None


def job_finished(job: Mapping[str, Any]) -> bool:
    return job_end(job) is not None


def stale_jobs(jobs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Finished Jobs older than the newest KEPT_FINISHED_JOBS finished ones."""
    finished = sorted(
        (j for j in jobs if job_finished(j)),
        key=lambda j: str(j["metadata"].get("creationTimestamp", "")),
    )
    return tuple(str(j["metadata"]["name"]) for j in finished[:-KEPT_FINISHED_JOBS])


def run_active(last: Mapping[str, Any]) -> bool:
    """Whether a run's recorded state (status.training or status.optimize) is still going."""
    return last.get("state") in ("Pending", "Running")


def as_int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None
