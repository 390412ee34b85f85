"""The ModelDeployment status: phases, conditions and the status shape — the source of the
CRD's status schema — plus `set_condition`, the one way conditions are updated.

Conditions follow the Kubernetes API conventions (metav1.Condition) and the kstatus
convention (Ready, Reconciling, Stalled), so `kubectl wait --for=condition=Ready`, Flux and
Argo CD read them.
"""

# prop() and friends return dataclasses.field(...) (with a default or a default_factory),
# which ruff cannot see through.
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from modelship.api.encode import to_resource_dict
from modelship.api.fields import prop

READY: Final = "Ready"
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"
ARTIFACT_READY: Final = "ArtifactReady"
DATA_DRIFT: Final = "DataDrift"
"""With spec.monitoring.drift: whether live traffic drifted from the training baseline."""

TRUE: Final = "True"
FALSE: Final = "False"
UNKNOWN: Final = "Unknown"

# metav1.Condition's own rules for these fields.
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Phase(enum.StrEnum):
    """The one-word summary of a ModelDeployment shown by `kubectl get md`."""

    PENDING = "Pending"
    TRAINING = "Training"
    DEPLOYING = "Deploying"
    READY = "Ready"
    DEGRADED = "Degraded"
    FAILED = "Failed"


@dataclass(frozen=True)
class Condition:
    """One observation about the ModelDeployment, in the metav1.Condition shape."""

    type: str = prop(
        "The condition's type: Ready, Reconciling, Stalled, ArtifactReady or DataDrift.",
        pattern=CONDITION_TYPE_PATTERN,
        max_length=316,
    )
    status: str = prop(
        "True, False or Unknown.",
        enum=(TRUE, FALSE, UNKNOWN),
    )
    reason: str = prop(
        "A CamelCase word saying why, for scripts to switch on (e.g. VersionNotFound).",
        pattern=CONDITION_REASON_PATTERN,
        min_length=1,
        max_length=1024,
    )
    message: str = prop(
        "A sentence for a person: what is happening and, if stuck, what to do.",
        max_length=32768,
    )
    last_transition_time: str = prop(
        "When the status last changed (RFC 3339).",
        default="",
        server_default=False,
        required=True,
        format="date-time",
    )
    observed_generation: int = prop(
        "The metadata.generation this condition was computed from.",
        default=0,
        server_default=False,
        minimum=0,
    )

    def to_dict(self) -> dict[str, Any]:
        """The condition as it appears in status.conditions (camelCase keys)."""
        return to_resource_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        """Read a condition from status.conditions (missing text fields read as empty)."""
        return cls(
            type=str(data.get("type", "")),
            status=str(data.get("status", UNKNOWN)),
            reason=str(data.get("reason", "")),
            message=str(data.get("message", "")),
            last_transition_time=str(data.get("lastTransitionTime", "")),
            observed_generation=int(data.get("observedGeneration", 0) or 0),
        )


def find_condition(conditions: Sequence[Mapping[str, Any]], type_: str) -> Condition | None:
    """The condition of this type in a status.conditions list, if there is one."""
    for existing in conditions:
        if existing.get("type") == type_:
            return Condition.from_dict(existing)
    return None


def set_condition(
    conditions: Sequence[Mapping[str, Any]], new: Condition, now: str
) -> list[dict[str, Any]]:
    """Return the conditions with `new` set in place of any of its type.

    lastTransitionTime is kept when the status did not change (so it tells when the
    condition really last flipped) and set to `now` when it did or the condition is new.
    The input is not modified; the order of the other conditions is kept.
    """
    result: list[dict[str, Any]] = []
    placed = False
    for existing in conditions:
        if existing.get("type") != new.type:
            result.append(dict(existing))
            continue
        if placed:
            continue  # a duplicate of this type: the list holds each type once
        unchanged = existing.get("status") == new.status and existing.get("lastTransitionTime")
        since = str(existing["lastTransitionTime"]) if unchanged else now
        result.append(dataclasses.replace(new, last_transition_time=since).to_dict())
        placed = True
    if not placed:
        result.append(dataclasses.replace(new, last_transition_time=now).to_dict())
    return result


@dataclass(frozen=True)
class VersionStatus:
    """A version of the model the operator found in storage."""

    number: int = prop("The version number (its folder name in storage).", minimum=0)
    state: str | None = prop(
        "What the operator found: complete (verified and deployable), incomplete (no "
        "manifest yet), corrupt (the files disagree with the manifest), or Rejected (a canary "
        "of it was rolled back; it is not tried again until a person pins it).",
        default=None,
    )
    digest: str | None = prop(
        "sha256 of the version's manifest; identifies exactly what is served.",
        default=None,
    )
    created: str | None = prop("When the version was made (RFC 3339).", default=None)
    metrics: dict[str, float] = prop(
        "Evaluation metrics recorded in the version's manifest.",
        default_factory=dict,
    )
    reason: str | None = prop(
        "Why the version is not complete or was rejected, as a CamelCase word (e.g. "
        "ChecksumMismatch, CrashLoopBackOff).",
        default=None,
    )
    message: str | None = prop(
        "Why the version is not complete or was rejected, in a sentence.", default=None
    )

    def to_dict(self) -> dict[str, Any]:
        return to_resource_dict(self)


@dataclass(frozen=True)
class TrainingStatus:
    """The last training run."""

    job_name: str | None = prop("The training Job's name.", default=None)
    version: int | None = prop("The version number this run produces.", default=None, minimum=1)
    state: str | None = prop(
        "Pending, Running, Succeeded, Failed, or Rejected (trained but failed the gate).",
        default=None,
    )
    start_time: str | None = prop("When the run started (RFC 3339).", default=None)
    completion_time: str | None = prop("When the run finished (RFC 3339).", default=None)
    metrics: dict[str, float] = prop(
        "The metrics the run reported for its version.",
        default_factory=dict,
    )
    reason: str | None = prop("A CamelCase word saying why the run ended so.", default=None)
    message: str | None = prop("What happened, in a sentence.", default=None)
    spec_hash: str | None = prop(
        "A digest of the spec.training fields the run trained from; a change starts a new run.",
        default=None,
    )
    retrain: str | None = prop(
        "The modelship.io/retrain annotation value last acted on; a new value starts a run.",
        default=None,
    )

    def to_dict(self) -> dict[str, Any]:
        return to_resource_dict(self)


# -- status.optimize: the last optimization run (spec.optimize, docs/optimize.md) ------------


@dataclass(frozen=True)
class OptimizationStatus:
    """The last optimization run: which version it quantized, how, and what came of it."""

    job_name: str | None = prop("The optimization Job's name.", default=None)
    source_version: int | None = prop("The version it quantizes.", default=None, minimum=0)
    version: int | None = prop("The version number it publishes.", default=None, minimum=1)
    method: str | None = prop("Float16, DynamicRange or Int8.", default=None)
    state: str | None = prop(
        "Pending, Running, Succeeded (published and within maxMetricDrop), Failed, or "
        "Rejected (published but its metric dropped too much: never served).",
        default=None,
    )
    start_time: str | None = prop("When the run started (RFC 3339).", default=None)
    completion_time: str | None = prop("When the run finished (RFC 3339).", default=None)
    metrics: dict[str, float] = prop(
        "The optimized version's metrics on the evaluation data.", default_factory=dict
    )
    source_metrics: dict[str, float] = prop(
        "The source version's metrics on the same data, measured in the same run.",
        default_factory=dict,
    )
    reason: str | None = prop("A CamelCase word saying why the run stands so.", default=None)
    message: str | None = prop("What happened, in a sentence.", default=None)

    def to_dict(self) -> dict[str, Any]:
        return to_resource_dict(self)


class RolloutPhase(enum.StrEnum):
    """Where a canary rollout stands (`status.rollout.phase`)."""

    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    PROMOTED = "Promoted"
    ABORTED = "Aborted"
    ROLLED_BACK = "RolledBack"


class AnalysisVerdict(enum.StrEnum):
    """The judgement of one measurement, or of one metric in it."""

    PASSED = "Passed"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True)
class MetricResult:
    """One metric of the last measurement: the canary's value, the stable version's beside
    it, the limit and the verdict."""

    metric: str = prop("The metric's name (spec.rollout.analysis.metrics[].name).")
    verdict: AnalysisVerdict = prop(
        "Passed (at most max), Failed (above max) or Inconclusive (nothing to measure: no "
        "requests in the interval, pods that could not be scraped, a query without a result).",
        enum=tuple(verdict.value for verdict in AnalysisVerdict),
    )
    max: float = prop("The limit, as a number (seconds for a latency).")
    value: float | None = prop(
        "The new version's value over the interval (seconds for a latency).", default=None
    )
    stable_value: float | None = prop(
        "The stable version's value over the same interval, for comparison.", default=None
    )
    requests: int | None = prop(
        "Requests the new version answered in the interval (built-in metrics).",
        default=None,
        minimum=0,
    )
    message: str | None = prop("Why the verdict is Inconclusive, in a sentence.", default=None)


@dataclass(frozen=True)
class AnalysisStatus:
    """The automated analysis of the canary in flight (or of the last one)."""

    version: int | None = prop("The version measured.", default=None, minimum=0)
    measurements: int = prop("Measurements taken so far in this rollout.", default=0, minimum=0)
    failures: int = prop("Failed measurements so far in this rollout.", default=0, minimum=0)
    failure_limit: int | None = prop(
        "Failed measurements that roll the canary back (spec.rollout.analysis.failureLimit).",
        default=None,
        minimum=1,
    )
    verdict: AnalysisVerdict | None = prop(
        "The last measurement's verdict: Failed when a metric failed, Passed when every "
        "metric passed, Inconclusive otherwise.",
        default=None,
        enum=tuple(verdict.value for verdict in AnalysisVerdict),
    )
    time: str | None = prop("When the last measurement was taken (RFC 3339).", default=None)
    passed_at: str | None = prop(
        "When a measurement last passed (RFC 3339); a step's pause ends only after one.",
        default=None,
    )
    results: list[MetricResult] = prop(
        "The last measurement, metric by metric.", default_factory=list
    )


@dataclass(frozen=True)
class RejectedVersion:
    """A version whose canary was rolled back; it is not tried again until a newer version is
    published or a person pins it (spec.model.version, changed after the rollback)."""

    number: int = prop("The version number.", minimum=0)
    reason: str = prop("Why, as a CamelCase word (e.g. CrashLoopBackOff, Aborted).")
    message: str = prop("Why, in a sentence.")
    digest: str | None = prop("Its manifest digest.", default=None)
    time: str | None = prop("When it was rolled back (RFC 3339).", default=None)
    generation: int | None = prop(
        "metadata.generation at the rollback; a pin of this version made later retries it.",
        default=None,
        minimum=0,
    )


@dataclass(frozen=True)
class HTTPRouteWeights:
    """The weights the operator last wrote on the HTTPRoute (spec.rollout.traffic GatewayAPI)."""

    name: str | None = prop("The HTTPRoute's name.", default=None)
    stable_weight: int | None = prop(
        "The weight of the backendRef to the Service <name>-stable.", default=None, minimum=0
    )
    canary_weight: int | None = prop(
        "The weight of the backendRef to the Service <name>-canary.", default=None, minimum=0
    )


@dataclass(frozen=True)
class RolloutStatus:
    """The canary or blue-green rollout: the current one, or the last one."""

    strategy: str | None = prop("The strategy of the rollout (Canary, BlueGreen).", default=None)
    phase: RolloutPhase | None = prop(
        "Progressing, Paused, Promoting, Promoted, Aborted or RolledBack.",
        default=None,
        enum=tuple(phase.value for phase in RolloutPhase),
    )
    step: int | None = prop(
        "The step in progress, counted from 1 (spec.rollout.steps).", default=None, minimum=0
    )
    steps: int | None = prop("How many steps the rollout has.", default=None, minimum=0)
    weight: int | None = prop(
        "The canary's share of traffic now, in percent: its share of the ready replicas, or "
        "with spec.rollout.traffic GatewayAPI the weight on the HTTPRoute.",
        default=None,
        minimum=0,
        maximum=100,
    )
    stable_version: int | None = prop(
        "The version serving before the rollout (and after a rollback).", default=None, minimum=0
    )
    canary_version: int | None = prop("The version being rolled out.", default=None, minimum=0)
    canary_digest: str | None = prop("Its manifest digest.", default=None)
    stable_replicas: int | None = prop(
        "Serving pods the stable Deployment is asked for now.", default=None, minimum=0
    )
    canary_replicas: int | None = prop(
        "Serving pods the canary Deployment is asked for now.", default=None, minimum=0
    )
    active_version: int | None = prop(
        "BlueGreen: the version the Service <name> sends every request to (the new version "
        "only once promoted; <name>-preview always selects the new one).",
        default=None,
        minimum=0,
    )
    switched_at: str | None = prop(
        "BlueGreen: when the Service <name> switched to the new version (RFC 3339); the old "
        "version goes scaleDownDelay later.",
        default=None,
    )
    started_at: str | None = prop("When the rollout started (RFC 3339).", default=None)
    step_started_at: str | None = prop("When the current step started (RFC 3339).", default=None)
    step_reached_at: str | None = prop(
        "When the canary's pods of the current step were all Ready (RFC 3339); its pause "
        "counts from then.",
        default=None,
    )
    waiting_since: str | None = prop(
        "When the canary began waiting for its pods of the step to be Ready (RFC 3339): the "
        "step's start, or when a step already reached lost a pod; the progress deadline "
        "counts from then.",
        default=None,
    )
    reason: str | None = prop("A CamelCase word saying why it is in this phase.", default=None)
    message: str | None = prop("What is happening, in a sentence.", default=None)
    promote_seen: str | None = prop(
        "The modelship.io/promote annotation value last acted on; a new value promotes.",
        default=None,
    )
    abort_seen: str | None = prop(
        "The modelship.io/abort annotation value last acted on; a new value aborts.",
        default=None,
    )
    analysis: AnalysisStatus | None = prop(
        "The automated analysis (spec.rollout.analysis): the last measurement, metric by "
        "metric, and the failures counted.",
        default=None,
    )
    http_route: HTTPRouteWeights | None = prop(
        "With spec.rollout.traffic GatewayAPI: the weights last written on the HTTPRoute (the "
        "route is read only while they differ from what the rollout wants).",
        default=None,
    )
    rejected: list[RejectedVersion] = prop(
        "Versions whose canary was rolled back, newest last.",
        default_factory=list,
    )


@dataclass(frozen=True)
class MonitoringStatus:
    """The last drift check of the serving version (spec.monitoring.drift)."""

    version: int | None = prop("The version whose traffic was scored.", default=None, minimum=0)
    verdict: str | None = prop(
        "DriftDetected, NoDrift, InsufficientSamples or BaselineMissing (the DataDrift "
        "condition's reason).",
        default=None,
    )
    score: float | None = prop(
        "The drift score of the worst feature (PSI), inputs and outputs together.", default=None
    )
    worst_feature: str | None = prop(
        'The feature with that score, e.g. "input pixels[12]" or "output probabilities[3]".',
        default=None,
    )
    samples: int | None = prop(
        "Predictions in the window, over every serving pod that answered.", default=None
    )
    window: str | None = prop(
        "The window scored, e.g. 1h (spec.monitoring.drift.window).", default=None
    )
    pods: int | None = prop("Serving pods whose counts were gathered.", default=None, minimum=0)
    checked_at: str | None = prop("When the counts were gathered (RFC 3339).", default=None)
    last_retrain_time: str | None = prop(
        "When drift last started a training run (RFC 3339); the cooldown counts from then.",
        default=None,
    )
    message: str | None = prop("The verdict in a sentence.", default=None)


@dataclass(frozen=True)
class ModelDeploymentStatus:
    """What is really happening, written by the operator."""

    observed_generation: int | None = prop(
        "The metadata.generation the operator last acted on.", default=None, minimum=0
    )
    model: str | None = prop(
        "The model's name in serving URLs: spec.model.name, or metadata.name when unset.",
        default=None,
    )
    phase: Phase | None = prop(
        "One word: Pending, Training, Deploying, Ready, Degraded or Failed.",
        default=None,
        enum=tuple(phase.value for phase in Phase),
    )
    current_version: int | None = prop("The version serving traffic.", default=None, minimum=0)
    current_digest: str | None = prop(
        "The manifest digest (sha256:...) of the version serving traffic.", default=None
    )
    target_version: int | None = prop(
        "The version being rolled out, if any.", default=None, minimum=0
    )
    replicas: int | None = prop(
        "Serving pods that exist (for the scale subresource).", default=None, minimum=0
    )
    ready_replicas: int | None = prop(
        "Serving pods that are ready to answer requests.", default=None, minimum=0
    )
    selector: str | None = prop(
        "The label selector of the serving pods (for the scale subresource and autoscalers).",
        default=None,
    )
    endpoint: str | None = prop(
        "The in-cluster URL of the model, e.g. "
        "http://digits.ml.svc.cluster.local:8501/v1/models/digits.",
        default=None,
    )
    grpc_endpoint: str | None = prop(
        "The in-cluster gRPC target of the model (TF Serving's PredictionService and the Open "
        "Inference Protocol), e.g. digits.ml.svc.cluster.local:8500; absent when "
        "spec.serving.protocols leaves out grpc.",
        default=None,
    )
    conditions: list[Condition] = prop(
        "Ready, Reconciling, Stalled, ArtifactReady and DataDrift, as in Kubernetes API "
        "conventions.",
        default_factory=list,
        extensions={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    versions: list[VersionStatus] = prop(
        "The most recent versions found in storage, oldest first.",
        default_factory=list,
    )
    training: TrainingStatus | None = prop("The last training run, if any.", default=None)
    rollout: RolloutStatus | None = prop(
        "The canary rollout in progress, or the last one (spec.rollout.strategy Canary).",
        default=None,
    )
    monitoring: MonitoringStatus | None = prop(
        "The last drift check (spec.monitoring.drift).", default=None
    )
    optimize: OptimizationStatus | None = prop(
        "The last optimization run (spec.optimize), if any.", default=None
    )

    def to_dict(self) -> dict[str, Any]:
        """The status as written to the resource (camelCase keys; unset fields left out)."""
        return to_resource_dict(self)
