"""Every reason the operator shows: the CamelCase words of status conditions, of
`status.versions[]`, `status.training`, `status.rollout` and of Events, each defined once here
with where it appears, what it means and what a person should do about it.

Code uses the constants below, never the words themselves (a unit test scans for them), and
`docs/reasons.md` is generated from this package: `python -m modelship.api.reasons`
(its __main__).
A few reasons are Kubernetes' own words, passed through as the API server, the kubelet or the
Job controller wrote them; they are listed so a person finds them here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from modelship.api.status import ARTIFACT_READY, DATA_DRIFT, READY, RECONCILING, STALLED

# Where a reason shows, besides the four condition types.
VERSIONS: Final = "versions[].reason"
TRAINING: Final = "training.reason"
ROLLOUT: Final = "rollout.reason"
OPTIMIZE: Final = "optimize.reason"
REJECTED: Final = "rollout.rejected[].reason"
EVENT: Final = "Event"
CLI: Final = "modelship CLI"

# While the condition carries it: a problem stops Ready (Stalled when it needs a person).
_PROBLEM: Final = (READY, RECONCILING, STALLED)
_ARTIFACT_PROBLEM: Final = (READY, RECONCILING, STALLED, ARTIFACT_READY, EVENT)


@dataclass(frozen=True)
class Reason:
    """One reason word and what it tells a person."""

    name: str
    """The CamelCase word, as scripts switch on it."""
    family: str
    """What it is about (a heading of docs/reasons.md)."""
    where: tuple[str, ...]
    """The condition types and status fields (or Events) that can carry it."""
    meaning: str
    """What happened, in a sentence."""
    action: str
    """What a person should do, in a sentence ("Nothing: ..." when waiting is enough)."""
    kubernetes: bool = False
    """Kubernetes' own word, passed through (not chosen by modelship)."""


REASONS: dict[str, Reason] = {}


def _define(
    name: str,
    family: str,
    where: tuple[str, ...],
    meaning: str,
    action: str,
    *,
    kubernetes: bool = False,
) -> str:
    if name in REASONS:
        raise ValueError(f"the reason {name} is defined twice")
    REASONS[name] = Reason(name, family, where, meaning, action, kubernetes)
    return name


SPEC: Final = "The spec"
STORAGE: Final = "Storage and its credentials"
VERSIONS_FAMILY: Final = "Model versions"
SERVING_FAMILY: Final = "Serving pods"
ROLLOUT_FAMILY: Final = "Rollouts"
GATE_FAMILY: Final = "The training gate"
TRAINING_FAMILY: Final = "Training runs"
TRAINER_FAMILY: Final = "The trainer (in its termination log)"
OBJECTS: Final = "Objects the operator owns"
SERVER_FAMILY: Final = "The model server and the CLI"
MONITORING_FAMILY: Final = "Monitoring: data drift"
OPTIMIZE_FAMILY: Final = "Optimization: quantized versions (spec.optimize)"

# --- The spec (parse_spec; the CRD's schema refuses most of these before they are stored).
MISSING_FIELD: Final = _define(
    "MissingField", SPEC, _PROBLEM,
    "A field the spec needs is not set.",
    "Set the field the message names.",
)  # fmt: skip
UNKNOWN_FIELD: Final = _define(
    "UnknownField", SPEC, _PROBLEM,
    "The spec has a field modelship does not know (often a typo).",
    "Remove or rename the field; the message suggests the closest known name.",
)  # fmt: skip
WRONG_TYPE: Final = _define(
    "WrongType", SPEC, _PROBLEM,
    "A field holds the wrong kind of value (a string for a number, ...).",
    "Give the field a value of the kind the message names.",
)  # fmt: skip
OUT_OF_RANGE: Final = _define(
    "OutOfRange", SPEC, _PROBLEM,
    "A number is below its minimum or above its maximum.",
    "Use a value within the bounds the message gives.",
)  # fmt: skip
INVALID_VALUE: Final = _define(
    "InvalidValue", SPEC, _PROBLEM,
    "A value does not have the form the field needs (a pattern, a duration, a cron line).",
    "Write the value the way the message shows.",
)  # fmt: skip
UNSUPPORTED_VALUE: Final = _define(
    "UnsupportedValue", SPEC, _PROBLEM,
    "A value is not one of those the field allows.",
    "Use one of the values the message lists.",
)  # fmt: skip
CONFLICTING_FIELDS: Final = _define(
    "ConflictingFields", SPEC, _PROBLEM,
    "Two fields contradict each other (or a field sets what the operator owns).",
    "Change one of the fields the message names.",
)  # fmt: skip

# --- Storage: reaching the S3 store, and the Secret with its credentials.
INVALID_STORAGE_URI: Final = _define(
    "InvalidStorageUri", STORAGE, (*_PROBLEM, ARTIFACT_READY, TRAINING, CLI),
    "The storage URI in spec.model.storageUri is not an S3 URI the operator can use.",
    'Write it as "s3://bucket/path/to/model".',
)  # fmt: skip
BUCKET_NOT_FOUND: Final = _define(
    "BucketNotFound", STORAGE, (*_ARTIFACT_PROBLEM, TRAINING, CLI),
    "The bucket named in spec.model.storageUri does not exist on the endpoint.",
    "Create the bucket, or fix the bucket name or spec.storage.endpoint.",
)  # fmt: skip
ACCESS_DENIED: Final = _define(
    "AccessDenied", STORAGE, (*_ARTIFACT_PROBLEM, TRAINING, CLI),
    "The store refused the credentials (unknown key, wrong secret, no permission).",
    "Fix the keys in the Secret named by spec.storage.secretRef, or the bucket's policy.",
)  # fmt: skip
STORAGE_UNAVAILABLE: Final = _define(
    "StorageUnavailable", STORAGE, (*_ARTIFACT_PROBLEM, TRAINING, CLI),
    "The store did not answer (down, unreachable, or slower than the poll interval).",
    "Nothing if it is an outage: the current version keeps serving and the next poll tries "
    "again; if it lasts, check spec.storage.endpoint and the network path to it.",
)  # fmt: skip
STORAGE_TLS_FAILED: Final = _define(
    "StorageTLSFailed", STORAGE, (*_ARTIFACT_PROBLEM, TRAINING, CLI),
    "TLS with the store failed: an https:// endpoint on a plain server, or an untrusted "
    "certificate.",
    "Make spec.storage.endpoint's scheme match the server, or trust its certificate.",
)  # fmt: skip
SECRET_NOT_FOUND: Final = _define(
    "SecretNotFound", STORAGE, (*_PROBLEM, ARTIFACT_READY, EVENT),
    "The Secret named by spec.storage.secretRef does not exist in the namespace.",
    "Create the Secret, or fix spec.storage.secretRef.name.",
)  # fmt: skip
SECRET_KEY_NOT_FOUND: Final = _define(
    "SecretKeyNotFound", STORAGE, (*_PROBLEM, ARTIFACT_READY, EVENT),
    "The Secret lacks a key the operator reads (or the key is empty or not base64).",
    "Add the key to the Secret, or name the right keys in spec.storage.secretRef.",
)  # fmt: skip

# --- Model versions: what the store's listing and each version's manifest say.
VERIFIED: Final = _define(
    "Verified", VERSIONS_FAMILY, (ARTIFACT_READY,),
    "The target version was found complete and its files match its manifest.",
    "Nothing.",
)  # fmt: skip
NO_VERSIONS: Final = _define(
    "NoVersions", VERSIONS_FAMILY, (READY, RECONCILING, STALLED, ARTIFACT_READY),
    "There is no complete version under spec.model.storageUri yet.",
    "Publish one (modelship push) or let spec.training make one; it is deployed when it "
    "appears.",
)  # fmt: skip
VERSION_NOT_FOUND: Final = _define(
    "VersionNotFound", VERSIONS_FAMILY, (*_ARTIFACT_PROBLEM, CLI),
    "The version pinned in spec.model.version does not exist in the store.",
    "Fix spec.model.version, or publish that version.",
)  # fmt: skip
MANIFEST_MISSING: Final = _define(
    "ManifestMissing", VERSIONS_FAMILY, (*_ARTIFACT_PROBLEM, VERSIONS, CLI),
    "A version folder has no modelship.json yet: its upload is unfinished (or failed).",
    "Nothing while an upload is under way; otherwise publish the version again.",
)  # fmt: skip
MANIFEST_INVALID: Final = _define(
    "ManifestInvalid", VERSIONS_FAMILY, (*_ARTIFACT_PROBLEM, VERSIONS, CLI),
    "A version's modelship.json cannot be read or does not describe its files.",
    "Publish the model again as a new version; a version is never repaired in place.",
)  # fmt: skip
CHECKSUM_MISMATCH: Final = _define(
    "ChecksumMismatch", VERSIONS_FAMILY, (*_ARTIFACT_PROBLEM, VERSIONS, CLI),
    "A file of the version does not have the checksum its manifest lists: it was changed "
    "after publishing.",
    "Publish the model again as a new version; the corrupt one is never served.",
)  # fmt: skip
SIZE_MISMATCH: Final = _define(
    "SizeMismatch", VERSIONS_FAMILY, (*_ARTIFACT_PROBLEM, VERSIONS, CLI),
    "A file of the version is missing or not the size its manifest lists.",
    "Publish the model again as a new version; the corrupt one is never served.",
)  # fmt: skip
UNSAFE_KEY: Final = _define(
    "UnsafeKey", VERSIONS_FAMILY, (*_ARTIFACT_PROBLEM, VERSIONS, CLI),
    "A manifest names a path that would escape the version's folder.",
    "Publish the model again with modelship push; do not edit manifests by hand.",
)  # fmt: skip
VERSION_EXISTS: Final = _define(
    "VersionExists", VERSIONS_FAMILY, (TRAINING, CLI),
    "The version number is already published; versions are never overwritten.",
    "Publish as the next version (modelship push picks it by itself).",
)  # fmt: skip
INVALID_MODEL: Final = _define(
    "InvalidModel", VERSIONS_FAMILY, (TRAINING, CLI),
    "What was to be published is not a TensorFlow SavedModel with a serving signature.",
    "Save the model with tf.saved_model.save (or Keras' export) and publish again.",
)  # fmt: skip

# --- Serving: the pods of the serving Deployments, and how a rollout of them goes.
SERVING: Final = _define(
    "Serving", SERVING_FAMILY, (READY, STALLED, EVENT),
    "The target version serves with every wanted replica ready.",
    "Nothing.",
)  # fmt: skip
PROGRESSING: Final = _define(
    "Progressing", SERVING_FAMILY, (READY, RECONCILING, STALLED),
    "The operator is choosing a version or converging; nothing needs a person.",
    "Nothing.",
)  # fmt: skip
ROLLING_OUT: Final = _define(
    "RollingOut", SERVING_FAMILY, (READY, RECONCILING, EVENT),
    "A version is being rolled out; the one before it keeps serving until it is ready.",
    "Nothing; watch the ready replicas grow.",
)  # fmt: skip
WAITING_FOR_REPLICAS: Final = _define(
    "WaitingForReplicas", SERVING_FAMILY, (READY, RECONCILING),
    "The target version serves, but not with every wanted replica ready yet.",
    "Nothing unless it lasts; then see the pods' events.",
)  # fmt: skip
ROLLED_OUT: Final = _define(
    "RolledOut", SERVING_FAMILY, (EVENT,),
    "A new version now serves the traffic, replacing the one before.",
    "Nothing.",
)  # fmt: skip
UNSCHEDULABLE: Final = _define(
    "Unschedulable", SERVING_FAMILY, (*_PROBLEM, TRAINING, EVENT),
    "No node can take the pod (GPUs, CPU, memory, taints or the node selector); past the "
    "progress deadline it needs a person.",
    "Free or add the resources the scheduler's message names, or lower the request.",
    kubernetes=True,
)  # fmt: skip
CRASH_LOOP_BACK_OFF: Final = _define(
    "CrashLoopBackOff", SERVING_FAMILY, (*_PROBLEM, VERSIONS, REJECTED, EVENT),
    "A container keeps crashing and Kubernetes restarts it with a growing delay.",
    "Read the container's logs (the message gives the kubectl command) and fix the cause.",
    kubernetes=True,
)  # fmt: skip
OOM_KILLED: Final = _define(
    "OOMKilled", SERVING_FAMILY, (*_PROBLEM, VERSIONS, REJECTED, TRAINING, EVENT),
    "A container used more memory than its limit and was killed.",
    "Raise the memory limit (spec.serving.resources or spec.training.resources).",
    kubernetes=True,
)  # fmt: skip
IMAGE_PULL_BACK_OFF: Final = _define(
    "ImagePullBackOff", SERVING_FAMILY, (*_PROBLEM, TRAINING, EVENT),
    "The image cannot be pulled (no such image or tag, no access to the registry).",
    "Fix the image name, or give the pod access to the registry (imagePullSecrets).",
    kubernetes=True,
)  # fmt: skip
ERR_IMAGE_PULL: Final = _define(
    "ErrImagePull", SERVING_FAMILY, (READY, RECONCILING, TRAINING, EVENT),
    "Pulling the image failed once; Kubernetes tries again.",
    "Nothing unless it becomes ImagePullBackOff.",
    kubernetes=True,
)  # fmt: skip
INVALID_IMAGE_NAME: Final = _define(
    "InvalidImageName", SERVING_FAMILY, (*_PROBLEM, TRAINING, EVENT),
    "The image reference is not a valid image name.",
    "Fix the image (spec.serving.image, spec.training.image or the operator's defaults).",
    kubernetes=True,
)  # fmt: skip
ERR_IMAGE_NEVER_PULL: Final = _define(
    "ErrImageNeverPull", SERVING_FAMILY, (*_PROBLEM, EVENT),
    "The image is not on the node and the pull policy forbids pulling it.",
    "Load the image on the nodes, or allow pulling it.",
    kubernetes=True,
)  # fmt: skip
CREATE_CONTAINER_CONFIG_ERROR: Final = _define(
    "CreateContainerConfigError", SERVING_FAMILY, (*_PROBLEM, TRAINING, EVENT),
    "The container cannot be set up: usually a Secret or ConfigMap (key) it refers to is "
    "missing.",
    "Create what the message names (often the storage Secret or one of its keys).",
    kubernetes=True,
)  # fmt: skip
CREATE_CONTAINER_ERROR: Final = _define(
    "CreateContainerError", SERVING_FAMILY, (*_PROBLEM, TRAINING, EVENT),
    "The container runtime could not create the container.",
    "Read the pod's events; fix the image or the node the message points at.",
    kubernetes=True,
)  # fmt: skip
RUN_CONTAINER_ERROR: Final = _define(
    "RunContainerError", SERVING_FAMILY, (*_PROBLEM, EVENT),
    "The container runtime could not start the container.",
    "Read the pod's events; fix the image's entrypoint or the node the message points at.",
    kubernetes=True,
)  # fmt: skip
INIT_CONTAINER_FAILED: Final = _define(
    "InitContainerFailed", SERVING_FAMILY, (*_PROBLEM, EVENT),
    "The init container that pulls the model failed without saying why in its log.",
    "Read the init container's logs (the message gives the kubectl command).",
)  # fmt: skip
PROGRESS_DEADLINE_EXCEEDED: Final = _define(
    "ProgressDeadlineExceeded", SERVING_FAMILY, (*_PROBLEM, ROLLOUT, VERSIONS, REJECTED, EVENT),
    "The rollout (or the canary) made no progress within its deadline.",
    "Look at the new version's pods: the message says what keeps them from being ready.",
    kubernetes=True,
)  # fmt: skip
REPLICA_FAILURE: Final = _define(
    "ReplicaFailure", SERVING_FAMILY, (*_PROBLEM, EVENT),
    "The serving Deployment cannot create its pods (a quota, an admission policy); its own "
    "reason (such as FailedCreate) is shown instead when it gives one.",
    "Fix what the API server's words in the message name.",
    kubernetes=True,
)  # fmt: skip

# --- Rollouts: canary steps, promotion and rollback (status.rollout).
CANARY_STARTED: Final = _define(
    "CanaryStarted", ROLLOUT_FAMILY, (ROLLOUT, EVENT),
    "A new version started as a canary beside the stable one.",
    "Nothing; it moves through spec.rollout.steps.",
)  # fmt: skip
CANARY_STEP: Final = _define(
    "CanaryStep", ROLLOUT_FAMILY, (ROLLOUT, EVENT),
    "The canary is at a step of spec.rollout.steps, waiting for its pods or its pause.",
    "Nothing.",
)  # fmt: skip
PAUSING: Final = _define(
    "Pausing", ROLLOUT_FAMILY, (ROLLOUT,),
    "The canary's pods of this step are ready; the step's pause is counting down.",
    "Nothing.",
)  # fmt: skip
WAITING_FOR_PROMOTION: Final = _define(
    "WaitingForPromotion", ROLLOUT_FAMILY, (ROLLOUT, EVENT),
    "The canary reached a step without a pause: it holds until a person promotes it.",
    "Promote it (kubectl annotate md <name> modelship.io/promote=$(date +%s) --overwrite) "
    "or abort it (modelship.io/abort).",
)  # fmt: skip
PROMOTING: Final = _define(
    "Promoting", ROLLOUT_FAMILY, (ROLLOUT, EVENT),
    "The canary passed its steps and is being rolled out to every replica.",
    "Nothing.",
)  # fmt: skip
PROMOTED: Final = _define(
    "Promoted", ROLLOUT_FAMILY, (ROLLOUT, EVENT),
    "The canary's version now serves every replica.",
    "Nothing.",
)  # fmt: skip
ROLLED_BACK: Final = _define(
    "RolledBack", ROLLOUT_FAMILY, (EVENT,),
    "The canary failed (crash loop, never ready, deadline) and the stable version serves "
    "all traffic again; the version is not tried again by itself.",
    "Fix the cause and publish a new version, or pin the version again to retry it.",
)  # fmt: skip
ABORTED: Final = _define(
    "Aborted", ROLLOUT_FAMILY, (ROLLOUT, VERSIONS, REJECTED, EVENT),
    "A person aborted the canary (modelship.io/abort); the stable version serves.",
    "Nothing; publish or pin another version to roll out.",
)  # fmt: skip
SUPERSEDED: Final = _define(
    "Superseded", ROLLOUT_FAMILY, (ROLLOUT,),
    "The rollout stopped because another version (or strategy) became the target.",
    "Nothing.",
)  # fmt: skip
VERSION_REJECTED: Final = _define(
    "VersionRejected", ROLLOUT_FAMILY, (*_ARTIFACT_PROBLEM,),
    "The pinned version's canary was rolled back, so it is not tried again.",
    "Change the spec with the pin in place to retry it, or pin another version.",
)  # fmt: skip

ANALYSIS_FAILED: Final = _define(
    "AnalysisFailed", ROLLOUT_FAMILY, (ROLLOUT, REJECTED, VERSIONS, EVENT),
    "The new version failed spec.rollout.analysis failureLimit times (the measured values, "
    "beside the stable version's, are in the message): it was rolled back.",
    "Fix the model and publish a newer version, or pin this one to try it again.",
)  # fmt: skip
WAITING_FOR_ANALYSIS: Final = _define(
    "WaitingForAnalysis", ROLLOUT_FAMILY, (ROLLOUT, RECONCILING),
    "The step's pause is over (or the preview is Ready), but no measurement of the new "
    "version has passed yet.",
    "Send traffic (through the preview Service for BlueGreen), or promote by hand.",
)  # fmt: skip
PREVIEW_STARTING: Final = _define(
    "PreviewStarting", ROLLOUT_FAMILY, (ROLLOUT,),
    "BlueGreen: the new version's pods are starting behind the preview Service <name>-preview.",
    "Nothing.",
)  # fmt: skip
PREVIEW_STARTED: Final = _define(
    "PreviewStarted", ROLLOUT_FAMILY, (EVENT,),
    "BlueGreen: a rollout began; the new version runs at full size behind the preview Service.",
    "Nothing; promote it (or let a passing analysis do so).",
)  # fmt: skip
SWITCHED: Final = _define(
    "Switched", ROLLOUT_FAMILY, (EVENT,),
    "BlueGreen: the Service <name> now selects the new version (one write).",
    "Nothing; the old version goes after spec.rollout.scaleDownDelay.",
)  # fmt: skip
HTTPROUTE_NOT_FOUND: Final = _define(
    "HTTPRouteNotFound", ROLLOUT_FAMILY, (*_PROBLEM, ROLLOUT),
    "The HTTPRoute named by spec.rollout.httpRoute (traffic GatewayAPI) does not exist in "
    "the namespace: no rollout starts (one in flight holds its step), and the stable version "
    "keeps serving.",
    "Create the HTTPRoute (a rule with backendRefs to <name>-stable and <name>-canary), or fix "
    "spec.rollout.httpRoute.name.",
)  # fmt: skip
GATEWAY_API_NOT_INSTALLED: Final = _define(
    "GatewayAPINotInstalled", ROLLOUT_FAMILY, (*_PROBLEM, ROLLOUT),
    "The cluster does not serve gateway.networking.k8s.io/v1 HTTPRoutes, which "
    "spec.rollout.traffic GatewayAPI needs (the Gateway API CRDs are not installed): no "
    "rollout starts, and the stable version keeps serving.",
    "Install the Gateway API CRDs (standard channel) and an implementation, or use traffic "
    "Replicas.",
)  # fmt: skip
HTTPROUTE_BACKENDS_MISSING: Final = _define(
    "HTTPRouteBackendsMissing", ROLLOUT_FAMILY, (*_PROBLEM, ROLLOUT),
    "The HTTPRoute has no rule whose backendRefs name both Services <name>-stable and "
    "<name>-canary, so there is no weight for the operator to set.",
    "Give one rule of the route the two backendRefs (port spec.serving.port).",
)  # fmt: skip
HTTPROUTE_FORBIDDEN: Final = _define(
    "HTTPRouteForbidden", ROLLOUT_FAMILY, (*_PROBLEM, ROLLOUT),
    "The operator may not read or patch the HTTPRoute (RBAC): no rollout starts.",
    "Grant the operator get and patch on httproutes.gateway.networking.k8s.io (the chart "
    "does).",
)  # fmt: skip

# --- The gate: whether a newer version may replace the serving one.
NO_GATE: Final = _define(
    "NoGate", GATE_FAMILY, (),
    "No spec.training.gate is set: every complete version is rolled out.",
    "Nothing.",
)  # fmt: skip
GATE_PASSED: Final = _define(
    "GatePassed", GATE_FAMILY, (),
    "The version's metric passed the gate; it is rolled out.",
    "Nothing.",
)  # fmt: skip
GATE_FAILED: Final = _define(
    "GateFailed", GATE_FAMILY, (READY, ARTIFACT_READY, STALLED),
    "The version's metric is outside spec.training.gate's min/max (or not a number).",
    "Nothing if the gate is right: the serving version stays; otherwise change the gate.",
)  # fmt: skip
GATE_NOT_IMPROVED: Final = _define(
    "GateNotImproved", GATE_FAMILY, (READY, ARTIFACT_READY, STALLED),
    "The version's metric is not better than the serving version's (mustImprove).",
    "Nothing if the gate is right: the serving version stays; otherwise change the gate.",
)  # fmt: skip
GATE_METRIC_MISSING: Final = _define(
    "GateMetricMissing", GATE_FAMILY, (READY, ARTIFACT_READY, STALLED),
    "The version's manifest lacks the metric the gate judges.",
    "Return the metric from the training entrypoint, or change spec.training.gate.metric.",
)  # fmt: skip
GATE_REJECTED: Final = _define(
    "GateRejected", GATE_FAMILY, (TRAINING, EVENT),
    "The run's version failed the gate; the serving version stays.",
    "Nothing if the gate is right; to try again, retrain (modelship.io/retrain).",
)  # fmt: skip

# --- Training runs (status.training) and the decision to start one.
TRAINING_STARTED: Final = _define(
    "TrainingStarted", TRAINING_FAMILY, (EVENT,),
    "A training Job was created for the next version.",
    "Nothing.",
)  # fmt: skip
NO_VERSION: Final = _define(
    "NoVersion", TRAINING_FAMILY, (TRAINING,),
    "A run started because no complete version exists yet.",
    "Nothing.",
)  # fmt: skip
TRAINING_SPEC_CHANGED: Final = _define(
    "TrainingSpecChanged", TRAINING_FAMILY, (TRAINING,),
    "A run started because what is trained (spec.training) changed.",
    "Nothing.",
)  # fmt: skip
SCHEDULED: Final = _define(
    "Scheduled", TRAINING_FAMILY, (TRAINING,),
    "A run started because spec.training.schedule was due.",
    "Nothing.",
)  # fmt: skip
RETRAIN_REQUESTED: Final = _define(
    "RetrainRequested", TRAINING_FAMILY, (TRAINING,),
    "A run started because the annotation modelship.io/retrain got a new value.",
    "Nothing.",
)  # fmt: skip
TRAINING_NOT_CONFIGURED: Final = _define(
    "TrainingNotConfigured", TRAINING_FAMILY, (),
    "No run starts: spec.training is not set.",
    "Nothing.",
)  # fmt: skip
SCHEDULE_NOT_DUE: Final = _define(
    "ScheduleNotDue", TRAINING_FAMILY, (),
    "No run starts: the schedule is not due yet.",
    "Nothing.",
)  # fmt: skip
LAST_RUN_FAILED: Final = _define(
    "LastRunFailed", TRAINING_FAMILY, (),
    "No run starts: the last run with this spec.training failed, and would again.",
    "Fix the cause, then change spec.training or set modelship.io/retrain to a new value.",
)  # fmt: skip
UP_TO_DATE: Final = _define(
    "UpToDate", TRAINING_FAMILY, (),
    "No run starts: a complete version exists and spec.training has not changed.",
    "Nothing; set modelship.io/retrain to a new value to train now.",
)  # fmt: skip
TRAINING_PENDING: Final = _define(
    "TrainingPending", TRAINING_FAMILY, (TRAINING,),
    "The training Job's pods are waiting to start.",
    "Nothing unless it lasts; then see the Job's pods.",
)  # fmt: skip
TRAINING_RUNNING: Final = _define(
    "TrainingRunning", TRAINING_FAMILY, (TRAINING,),
    "The training Job's workers are running (and no other run starts meanwhile).",
    "Nothing.",
)  # fmt: skip
TRAINING_SUCCEEDED: Final = _define(
    "TrainingSucceeded", TRAINING_FAMILY, (TRAINING, EVENT),
    "The training Job completed and its version is published.",
    "Nothing.",
)  # fmt: skip
TRAINING_FAILED: Final = _define(
    "TrainingFailed", TRAINING_FAMILY, (*_PROBLEM, TRAINING, EVENT),
    "The training run failed (every failure's Event has this reason; the message starts with "
    "the cause). It is not retried with the same spec.training.",
    "Read the message (and the trainer's logs), fix the cause, then change spec.training or "
    "set modelship.io/retrain to a new value.",
)  # fmt: skip
VERSION_NOT_PUBLISHED: Final = _define(
    "VersionNotPublished", TRAINING_FAMILY, (*_PROBLEM, TRAINING),
    "The training Job completed but its version is not complete in the store: the trainer "
    "publishes before it exits, so the run failed to publish.",
    "Read the trainer's logs (kubectl logs job/<name>), fix the cause, then retrain.",
)  # fmt: skip
TRAINING_JOB_NOT_FOUND: Final = _define(
    "TrainingJobNotFound", TRAINING_FAMILY, (*_PROBLEM, TRAINING),
    "The run's training Job no longer exists (deleted by someone); the run counts as failed.",
    "Retrain (modelship.io/retrain) if the version is still wanted.",
)  # fmt: skip
TRAINING_JOB_REFUSED: Final = _define(
    "TrainingJobRefused", TRAINING_FAMILY, (*_PROBLEM, TRAINING),
    "The API server refused to create the training Job (a quota, a policy, an invalid "
    "value); its words are in the message.",
    "Fix what the message names, then change spec.training or retrain.",
)  # fmt: skip
DEADLINE_EXCEEDED: Final = _define(
    "DeadlineExceeded", TRAINING_FAMILY, (*_PROBLEM, TRAINING),
    "The training Job ran past spec.training.activeDeadline and was stopped.",
    "Raise spec.training.activeDeadline, or make training faster.",
    kubernetes=True,
)  # fmt: skip
BACKOFF_LIMIT_EXCEEDED: Final = _define(
    "BackoffLimitExceeded", TRAINING_FAMILY, (*_PROBLEM, TRAINING),
    "Every attempt the training Job was allowed (spec.training.backoffLimit) failed.",
    "Read the failed pods' logs and fix the cause, then retrain.",
    kubernetes=True,
)  # fmt: skip

# --- The trainer (modelship train): the first word of its termination log, in status.training.
ENTRYPOINT_NOT_FOUND: Final = _define(
    "EntrypointNotFound", TRAINER_FAMILY, (*_PROBLEM, TRAINING),
    "The entrypoint in spec.training names a module or function the image does not have.",
    "Fix spec.training.entrypoint, or use an image that contains it.",
)  # fmt: skip
INVALID_METRICS: Final = _define(
    "InvalidMetrics", TRAINER_FAMILY, (*_PROBLEM, TRAINING),
    "The entrypoint returned metrics that are not names with finite numbers.",
    "Return a dict of metric names to numbers from the entrypoint.",
)  # fmt: skip
INVALID_TF_CONFIG: Final = _define(
    "InvalidTFConfig", TRAINER_FAMILY, (*_PROBLEM, TRAINING),
    "TF_CONFIG is not a training cluster modelship can run in.",
    "Do not set TF_CONFIG yourself: the operator sets it for spec.training.workers.",
)  # fmt: skip
PUBLISH_FAILED: Final = _define(
    "PublishFailed", TRAINER_FAMILY, (*_PROBLEM, TRAINING),
    "The trained model could not be published to the store.",
    "Read the message (credentials, bucket, space), fix it, then retrain.",
)  # fmt: skip

# --- Monitoring: the DataDrift condition (spec.monitoring.drift) and the baselines it needs.
DRIFT_DETECTED: Final = _define(
    "DriftDetected", MONITORING_FAMILY, (DATA_DRIFT, EVENT, TRAINING),
    "The live inputs or outputs of the serving version moved away from its training baseline: "
    "the worst feature's score is above spec.monitoring.drift.max.",
    "Look at status.monitoring.worstFeature; retrain on fresh data (action Retrain does it, at "
    "most once per cooldown), or raise max if the shift is expected.",
)  # fmt: skip
NO_DRIFT: Final = _define(
    "NoDrift", MONITORING_FAMILY, (DATA_DRIFT,),
    "Every feature's score is within spec.monitoring.drift.max over the window.",
    "Nothing.",
)  # fmt: skip
INSUFFICIENT_SAMPLES: Final = _define(
    "InsufficientSamples", MONITORING_FAMILY, (DATA_DRIFT,),
    "Fewer predictions than minSamples in the window (or the serving pods did not answer), so "
    "no verdict yet.",
    "Nothing if traffic is low: the verdict comes once enough requests arrive; otherwise lower "
    "minSamples or check that the serving pods answer on their REST port.",
)  # fmt: skip
BASELINE_MISSING: Final = _define(
    "BaselineMissing", MONITORING_FAMILY, (DATA_DRIFT,),
    "The serving version's manifest records no baseline to compare live traffic with.",
    "Record one: ctx.record_baseline(sample) in the training function, or "
    "modelship push --baseline FILE for a model trained elsewhere.",
)  # fmt: skip
INVALID_BASELINE: Final = _define(
    "InvalidBaseline", MONITORING_FAMILY, (TRAINING, CLI),
    "The baseline sample or file does not fit the model's serving signature or is not a "
    "baseline.",
    "Give rows of every serving input (an .npz, JSON rows, or a baseline JSON), as the message "
    "says.",
)  # fmt: skip

# --- Optimization: spec.optimize's Jobs and the versions they publish (status.optimize).
OPTIMIZATION_STARTED: Final = _define(
    "OptimizationStarted", OPTIMIZE_FAMILY, (OPTIMIZE, EVENT),
    "An optimization Job <name>-optimize-<version> started for a newly published version.",
    "Nothing.",
)  # fmt: skip
OPTIMIZATION_PENDING: Final = _define(
    "OptimizationPending", OPTIMIZE_FAMILY, (OPTIMIZE,),
    "The optimization Job waits for its pod to be scheduled or to start.",
    "Nothing, unless it lasts: then look at the Job's pod (kubectl describe).",
)  # fmt: skip
OPTIMIZATION_RUNNING: Final = _define(
    "OptimizationRunning", OPTIMIZE_FAMILY, (OPTIMIZE,),
    "The optimization Job converts and evaluates the version.",
    "Nothing.",
)  # fmt: skip
OPTIMIZATION_PUBLISHED: Final = _define(
    "OptimizationPublished", OPTIMIZE_FAMILY, (OPTIMIZE, EVENT),
    "The quantized version was published; it serves if its metric is within maxMetricDrop.",
    "Nothing.",
)  # fmt: skip
OPTIMIZATION_FAILED: Final = _define(
    "OptimizationFailed", OPTIMIZE_FAMILY, (OPTIMIZE, EVENT, TRAINING),
    "The optimization run failed (the converter refused the model, or an unexpected error); "
    "the message starts with the cause. The source version keeps serving.",
    "Fix the cause; a newer source version or a changed spec.optimize.quantization retries.",
)  # fmt: skip
OPTIMIZED_VERSION_NOT_PUBLISHED: Final = _define(
    "OptimizedVersionNotPublished", OPTIMIZE_FAMILY, (OPTIMIZE,),
    "The optimization Job finished but its version is not in the store's listing.",
    "Read the Job's logs (kubectl logs job/<name>-optimize-<version>).",
)  # fmt: skip
OPTIMIZATION_JOB_REFUSED: Final = _define(
    "OptimizationJobRefused", OPTIMIZE_FAMILY, (OPTIMIZE,),
    "The API server refused the optimization Job (its words are in the message).",
    "Fix spec.optimize (image, resources) as the message says.",
)  # fmt: skip
OPTIMIZATION_PASSED: Final = _define(
    "OptimizationPassed", OPTIMIZE_FAMILY, (),
    "The quantized version's metric is within maxMetricDrop of its source's.",
    "Nothing.",
)  # fmt: skip
OPTIMIZATION_REJECTED: Final = _define(
    "OptimizationRejected", OPTIMIZE_FAMILY, (READY, STALLED, OPTIMIZE, EVENT),
    "The quantized version's metric dropped more than spec.optimize.maxMetricDrop from its "
    "source's (both numbers in the message); the source keeps serving.",
    "Use a milder quantization (Float16, DynamicRange) or raise maxMetricDrop.",
)  # fmt: skip
OPTIMIZATION_METRIC_MISSING: Final = _define(
    "OptimizationMetricMissing", OPTIMIZE_FAMILY, (READY, STALLED, OPTIMIZE),
    "The metric spec.optimize.metric names is missing for the source or the quantized version.",
    "Add labels to the evaluation data, or set spec.optimize.metric to one it measures.",
)  # fmt: skip
INVALID_EVALUATION_DATA: Final = _define(
    "InvalidEvaluationData", OPTIMIZE_FAMILY, (OPTIMIZE, CLI),
    "The evaluation .npz does not fit the model (an input missing, a shape, no labels).",
    "Fix the file at spec.optimize.evaluationDataUri: one array per model input and labels.",
)  # fmt: skip
OBJECT_NOT_FOUND: Final = _define(
    "ObjectNotFound", OPTIMIZE_FAMILY, (OPTIMIZE, CLI),
    "The evaluation data object is not in the store.",
    "Fix spec.optimize.evaluationDataUri or upload the file.",
)  # fmt: skip
OBJECT_TOO_LARGE: Final = _define(
    "ObjectTooLarge", OPTIMIZE_FAMILY, (OPTIMIZE, CLI),
    "The evaluation data object is over 1 GiB.",
    "Use a smaller sample of the evaluation data.",
)  # fmt: skip
UNSUPPORTED_FRAMEWORK: Final = _define(
    "UnsupportedFramework", OPTIMIZE_FAMILY, (CLI,),
    "The version's manifest names a framework the server cannot load (not tensorflow or "
    "tflite).",
    "Serve a version made by modelship push, train or optimize.",
)  # fmt: skip

# --- Objects the operator owns.
OBJECT_REFUSED: Final = _define(
    "ObjectRefused", OBJECTS, _PROBLEM,
    "The API server refused an object the operator owns (a quota, the Service IP range, an "
    "admission policy); its words are in the message.",
    "Fix what the message names; the operator applies the object again at the next pass.",
)  # fmt: skip

# --- The model server (modelship serve): the first word of its termination log, quoted in
# the CrashLoopBackOff message of a serving pod that will not start.
ADDRESS_IN_USE: Final = _define(
    "AddressInUse", SERVER_FAMILY, (*_PROBLEM, CLI),
    "The server cannot listen on its port: something else holds it.",
    "Stop what holds the port, or serve on another one (--port, --grpc-port).",
)  # fmt: skip
MODEL_PATH_NOT_FOUND: Final = _define(
    "ModelPathNotFound", SERVER_FAMILY, (*_PROBLEM, CLI),
    "The server's model path is not a folder with a version in it.",
    "Point --model_base_path at the pulled model (the operator does; check the pull's logs).",
)  # fmt: skip
MODEL_LOAD_FAILED: Final = _define(
    "ModelLoadFailed", SERVER_FAMILY, (*_PROBLEM, CLI),
    "The server could not load the SavedModel.",
    "Check that the version is a SavedModel of a TensorFlow the server image supports.",
)  # fmt: skip
WARMUP_FAILED: Final = _define(
    "WarmupFailed", SERVER_FAMILY, (*_PROBLEM, CLI),
    "The model loaded but failed its warm-up request.",
    "Check the model's serving signature with modelship versions / saved_model_cli.",
)  # fmt: skip
NO_PROTOCOL: Final = _define(
    "NoProtocol", SERVER_FAMILY, (CLI,),
    "Both gRPC and REST were turned off, leaving no way to call the model.",
    "Drop --no-grpc or --no-rest.",
)  # fmt: skip
CAPTURE_MISCONFIGURED: Final = _define(
    "CaptureMisconfigured", SERVER_FAMILY, (CLI,),
    "A --capture-* flag of modelship serve cannot work: --capture-mask without a key in "
    "MODELSHIP_CAPTURE_MASK_KEY, or a size or duration that does not parse.",
    "Give the mask key (spec.monitoring.capture.mask.keySecretRef), or fix the flag the "
    "message names.",
)  # fmt: skip
SERVER_FAILED: Final = _define(
    "ServerFailed", SERVER_FAMILY, (*_PROBLEM, CLI),
    "The server stopped on an error it did not expect.",
    "Read the container's logs; report it if the cause is not yours.",
)  # fmt: skip
LOCAL_FILE_ERROR: Final = _define(
    "LocalFileError", SERVER_FAMILY, (CLI,),
    "A local file or folder could not be read or written (modelship push, pull).",
    "Fix the path or its permissions, or free disk space, as the message says.",
)  # fmt: skip

FAMILIES: Final = (
    SPEC,
    STORAGE,
    VERSIONS_FAMILY,
    SERVING_FAMILY,
    ROLLOUT_FAMILY,
    GATE_FAMILY,
    TRAINING_FAMILY,
    TRAINER_FAMILY,
    SERVER_FAMILY,
    MONITORING_FAMILY,
    OPTIMIZE_FAMILY,
    OBJECTS,
)


def markdown() -> str:
    """docs/reasons.md."""
    lines = [
        "<!-- Generated by `python -m modelship.api.reasons` (make reasons); do not edit. -->",
        "# Status reasons",
        "",
        "Every CamelCase reason modelship shows: in the conditions of a ModelDeployment "
        "(Ready, Reconciling, Stalled, ArtifactReady, DataDrift), in `status.versions[]`, "
        "`status.training`, `status.rollout`, in its Events and in the `modelship` CLI's "
        "errors. A reason marked (Kubernetes) is Kubernetes' own word, passed through.",
        "",
        "A condition's message says the specifics (which object, which field, the server's "
        "own words); this page says what the reason means and what to do about it.",
    ]
    for family in FAMILIES:
        lines += ["", f"## {family}", "", "| Reason | Shown in | Meaning | What to do |"]
        lines.append("|---|---|---|---|")
        for reason in REASONS.values():
            if reason.family != family:
                continue
            name = f"`{reason.name}`" + (" (Kubernetes)" if reason.kubernetes else "")
            where = ", ".join(reason.where) or "the operator's decision only"
            lines.append(f"| {name} | {where} | {reason.meaning} | {reason.action} |")
    return "\n".join(lines) + "\n"
