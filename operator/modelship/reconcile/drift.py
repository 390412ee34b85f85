"""Drift, decided: from the serving pods' bin counts (what `GET /v1/models/NAME/monitoring`
answered) and the version's baseline (its manifest) to a score, a verdict, the
`status.monitoring` object, the `DataDrift` condition, the Events, and whether drift asks
for a training run (spec.monitoring.drift.action Retrain, at most once per cooldown).

Pure: the controller (controller/monitoring.py) gathers the pods' answers; nothing here
does I/O. The score is the population stability index of each feature, inputs (data drift)
and outputs (prediction drift) alike, over the baseline's bins; the worst feature's PSI is
the score compared with spec.monitoring.drift.max.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeGuard

from modelship.api import Condition, DriftSpec, ModelDeploymentSpec, SpecError, format_duration
from modelship.api.reasons import (
    BASELINE_MISSING,
    DRIFT_DETECTED,
    INSUFFICIENT_SAMPLES,
    NO_DRIFT,
)
from modelship.api.status import DATA_DRIFT
from modelship.api.timestamps import parse_timestamp, rfc3339
from modelship.artifacts.baseline import Baseline
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.status import Event

# The DataDrift condition's reasons are also status.monitoring.verdict: DriftDetected (True),
# NoDrift (False), InsufficientSamples and BaselineMissing (Unknown).
# A bin's share is never taken as below this: an empty bin would make PSI infinite.
PSI_FLOOR: Final = 1e-4


@dataclass(frozen=True)
class PodSummary:
    """One serving pod's monitoring answer, checked."""

    pod: str
    version: int | None
    baseline: bool
    samples: int
    counts: Mapping[str, tuple[int, ...]]
    """Feature key ("input pixels[3]") -> its bin counts in the window."""


def parse_pod_summary(pod: str, document: Any) -> PodSummary | None:
    """The answer of one pod, or None when it is not a monitoring answer."""
    if not isinstance(document, dict):
        return None
    samples = document.get("samples")
    version = document.get("version")
    features = document.get("features")
    if not _is_int(samples) or not isinstance(features, list):
        return None
    counts: dict[str, tuple[int, ...]] = {}
    for feature in features:
        if not isinstance(feature, dict):
            return None
        values = feature.get("counts")
        if not isinstance(values, list) or not all(_is_int(c) and c >= 0 for c in values):
            return None
        counts[f"{feature.get('source')} {feature.get('name')}"] = tuple(values)
    return PodSummary(
        pod=pod,
        version=version if _is_int(version) else None,
        baseline=document.get("baseline") is True,
        samples=samples,
        counts=counts,
    )


def psi(expected: Sequence[int], actual: Sequence[int]) -> float:
    """The population stability index of `actual` against `expected` (counts per bin):
    sum over bins of (a - e) * ln(a / e), with each share at least PSI_FLOOR."""
    total_e, total_a = sum(expected), sum(actual)
    if total_e == 0 or total_a == 0:
        return 0.0
    score = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        e = max(e_count / total_e, PSI_FLOOR)
        a = max(a_count / total_a, PSI_FLOOR)
        score += (a - e) * math.log(a / e)
    return score


@dataclass(frozen=True)
class DriftScore:
    score: float
    worst_feature: str | None
    samples: int
    pods: int


def score_drift(baseline: Baseline, summaries: Sequence[PodSummary]) -> DriftScore:
    """Add up the pods' counts per feature and score each against the baseline; a feature
    whose bins a pod does not share (another baseline) is left out of that pod's part."""
    totals: dict[str, list[int]] = {f.key: [0] * (len(f.edges) + 1) for f in baseline.features}
    samples = 0
    for summary in summaries:
        samples += summary.samples
        for key, counts in summary.counts.items():
            total = totals.get(key)
            if total is not None and len(total) == len(counts):
                totals[key] = [t + c for t, c in zip(total, counts, strict=True)]
    worst: str | None = None
    score = 0.0
    for feature in baseline.features:
        value = psi(feature.counts, totals[feature.key])
        if worst is None or value > score:
            worst, score = feature.key, value
    return DriftScore(score=score, worst_feature=worst, samples=samples, pods=len(summaries))


@dataclass(frozen=True)
class DriftAssessment:
    """What one drift check decides."""

    status: dict[str, Any]
    """status.monitoring as it should be."""
    condition: Condition
    events: tuple[Event, ...]
    retrain: str | None
    """Why a training run should start now (action Retrain, drift, cooldown over), or None."""


def check_due(previous: Mapping[str, Any] | None, now: datetime, interval: float) -> bool:
    """Whether the pods should be asked again: at most once per `interval` (the poll)."""
    checked = parse_timestamp((previous or {}).get("checkedAt"))
    return checked is None or now - checked >= timedelta(seconds=interval)


@dataclass(frozen=True)
class DriftCheck:
    """A drift check due in this pass: which version, and what to ask its serving pods."""

    version: int
    baseline: Baseline | None
    """The version's baseline (its manifest), the counts the pods' are compared with."""
    model: str
    """The model's name in the serving URLs."""
    port: int
    window: float
    """Seconds of traffic each pod summarizes (spec.monitoring.drift.window)."""


@dataclass(frozen=True)
class DriftReadings:
    """What the serving pods answered for one `DriftCheck` (controller/monitoring.py asks)."""

    check: DriftCheck
    summaries: tuple[PodSummary, ...]
    asked: int
    """The Ready serving pods that were asked (some may not have answered)."""


def drift_check_due(
    spec: ModelDeploymentSpec | SpecError,
    name: str,
    status: Mapping[str, Any],
    artifacts: Sequence[VersionInfo] | ArtifactError,
    now: datetime,
    poll_interval: float,
) -> DriftCheck | None:
    """A drift check of the version serving traffic (status.currentVersion: its pods are the
    ones that saw the traffic, not the target's) when spec.monitoring.drift asks for one and it
    is due; None otherwise (status.monitoring and the DataDrift condition then stay as they
    are)."""
    if not isinstance(spec, ModelDeploymentSpec) or spec.monitoring is None:
        return None
    drift = spec.monitoring.drift
    version = status.get("currentVersion")
    if drift is None or not isinstance(version, int) or isinstance(artifacts, ArtifactError):
        return None
    if not check_due(status.get("monitoring"), now, poll_interval):
        return None
    info = next((v for v in artifacts if v.number == version), None)
    if info is None or info.manifest is None:
        return None  # the listing does not show it (yet): nothing to compare with
    return DriftCheck(
        version=version,
        baseline=info.manifest.baseline,
        model=str(status.get("model") or spec.model.name or name),
        port=spec.serving.port,
        window=drift.window,
    )


def assess_readings(
    spec: ModelDeploymentSpec | SpecError,
    readings: DriftReadings | None,
    previous: Mapping[str, Any] | None,
    *,
    generation: int,
    now: datetime,
) -> DriftAssessment | None:
    """`assess_drift` of what the pods answered in this pass; None when none were asked."""
    if readings is None or not isinstance(spec, ModelDeploymentSpec):
        return None
    drift = spec.monitoring.drift if spec.monitoring is not None else None
    if drift is None:
        return None
    return assess_drift(
        drift,
        readings.check.version,
        readings.check.baseline,
        readings.summaries,
        asked=readings.asked,
        previous=previous,
        generation=generation,
        now=now,
    )


def assess_drift(
    spec: DriftSpec,
    version: int,
    baseline: Baseline | None,
    summaries: Sequence[PodSummary],
    *,
    asked: int,
    previous: Mapping[str, Any] | None,
    generation: int,
    now: datetime,
) -> DriftAssessment:
    """Score the serving version's traffic and decide (see the module docstring). `asked`:
    the Ready serving pods that were asked; `summaries`: the answers of those that answered
    about `version`."""
    previous = previous or {}
    window = format_duration(spec.window)
    status: dict[str, Any] = {"version": version, "window": window, "checkedAt": rfc3339(now)}
    if previous.get("lastRetrainTime"):
        status["lastRetrainTime"] = previous["lastRetrainTime"]
    answered = [s for s in summaries if s.version == version]
    events: list[Event] = []
    retrain = None
    if baseline is None:
        reason, value = BASELINE_MISSING, "Unknown"
        message = (
            f"version {version} has no drift baseline in its manifest, so its traffic cannot "
            "be compared with its training data: record one in the training function "
            "(ctx.record_baseline) or publish with modelship push --baseline."
        )
        status["pods"] = len(answered)
    else:
        scored = score_drift(baseline, answered)
        status.update(
            pods=scored.pods,
            samples=scored.samples,
            score=round(scored.score, 4),
            worstFeature=scored.worst_feature,
        )
        if scored.samples < spec.min_samples:
            reason, value = INSUFFICIENT_SAMPLES, "Unknown"
            heard = f"{scored.pods} of {asked} serving pods answered"
            message = (
                f"{scored.samples} predictions of version {version} in the last {window} "
                f"({heard}); a verdict needs {spec.min_samples} (spec.monitoring.drift."
                "minSamples)."
            )
        elif scored.score > spec.max:
            reason, value = DRIFT_DETECTED, "True"
            message = (
                f"the traffic of version {version} has drifted from its training data: "
                f"{scored.worst_feature} has {spec.method} {scored.score:.3f}, above "
                f"{spec.max:g}, over {scored.samples} predictions in the last {window}."
            )
            retrain = _retrain_reason(spec, previous, now, message)
            if previous.get("verdict") != DRIFT_DETECTED or previous.get("version") != version:
                events.append(Event("Warning", DRIFT_DETECTED, message))
        else:
            reason, value = NO_DRIFT, "False"
            message = (
                f"no drift: the worst feature, {scored.worst_feature}, has {spec.method} "
                f"{scored.score:.3f} (at most {spec.max:g}) over {scored.samples} predictions "
                f"in the last {window}."
            )
    status.update(verdict=reason, message=message)
    condition = Condition(
        type=DATA_DRIFT,
        status=value,
        reason=reason,
        message=message,
        observed_generation=generation,
    )
    return DriftAssessment(status, condition, tuple(events), retrain)


def _retrain_reason(
    spec: DriftSpec, previous: Mapping[str, Any], now: datetime, message: str
) -> str | None:
    if spec.action != "Retrain":
        return None
    last = parse_timestamp(previous.get("lastRetrainTime"))
    if last is not None and now - last < timedelta(seconds=spec.cooldown):
        return None
    return message


def retrain_started(status: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """status.monitoring once drift has started a training run (the cooldown starts)."""
    return {**status, "lastRetrainTime": rfc3339(now)}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
