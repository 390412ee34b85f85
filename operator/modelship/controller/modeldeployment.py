"""kopf handlers for ModelDeployment: thin. Each resource gets one reconcile loop (a kopf
daemon) that gathers what is observed, asks `reconcile.plan_serving` what to do, applies the
objects with server-side apply, writes the status when it changed and posts the Events.

The loop is level-triggered: it wakes when the spec changes, when one of the resource's
Deployments, Pods or Jobs changes, and otherwise every `spec.storage.pollInterval` to look for
new versions. Nothing is kept in memory that the cluster does not also hold, so restarting the
operator at any moment loses nothing and creates no duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kubernetes.client.exceptions import ApiException

from modelship.api import GROUP, KIND, PLURAL, VERSION, ModelDeploymentSpec, SpecError, parse_spec
from modelship.artifacts import (
    ArtifactError,
    ArtifactStore,
    S3Settings,
    VersionInfo,
    make_s3_client,
)
from modelship.artifacts.uri import StorageUri, parse_storage_uri
from modelship.controller import metrics
from modelship.controller.kube import Kube, in_thread
from modelship.controller.settings import OperatorSettings
from modelship.reconcile.deployment import ServingSettings
from modelship.reconcile.desired import ServingObservation, ServingPlan, plan_serving
from modelship.reconcile.lifecycle import (
    RETRAIN_ANNOTATION,
    TrainingPlan,
    plan_training,
    refused_run,
)
from modelship.reconcile.owner import (
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    SERVING,
    TRAINING,
    Owner,
    selector_labels,
)
from modelship.reconcile.storage import storage_settings
from modelship.reconcile.training import TrainingSettings, is_training_service

Logger = logging.Logger | logging.LoggerAdapter[Any]
API_VERSION = f"{GROUP}/{VERSION}"
MANAGED = {LABEL_MANAGED_BY: "modelship"}

OPERATOR = OperatorSettings()
"""Replaced by `run_operator` with the settings from the command line."""

_wakeups: dict[tuple[str, str], asyncio.Event] = {}
_kube: Kube | None = None
_s3_clients: dict[S3Settings, Any] = {}


def kube() -> Kube:
    global _kube
    if _kube is None:
        _kube = Kube.from_environment()
    return _kube


def wake(namespace: str | None, name: str | None) -> None:
    if namespace and name and (event := _wakeups.get((namespace, name))):
        event.set()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10)
async def model_deployment_loop(
    name: str, namespace: str | None, stopped: kopf.DaemonStopped, logger: Logger, **_: Any
) -> None:
    """One reconcile loop per ModelDeployment, for as long as it exists."""
    assert namespace is not None  # the resource is namespaced
    key = (namespace, name)
    wakeup = _wakeups.setdefault(key, asyncio.Event())
    failures = 0
    try:
        while not stopped:
            wakeup.clear()
            started = time.perf_counter()
            try:
                delay = await reconcile(namespace, name, logger)
                failures = 0
                result = "converging" if delay <= OPERATOR.converge_interval else "steady"
            except Exception as error:  # the loop must survive anything; the next try heals
                failures += 1
                delay = min(2.0**failures, 60.0)
                result = "error"
                metrics.RECONCILE_ERRORS.labels(error=type(error).__name__).inc()
                logger.exception(
                    f"reconcile failed ({type(error).__name__}); retrying in {delay:.0f}s"
                )
            metrics.RECONCILES.labels(result=result).inc()
            metrics.RECONCILE_DURATION.labels(result=result).observe(time.perf_counter() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=delay)
    finally:
        _wakeups.pop(key, None)


def clock() -> datetime:
    """Now, for every decision of a reconcile that depends on the time (cron schedules, the
    grace for a trained version to appear, condition times). Read through this one function
    so that a test can run the operator process on another clock."""
    return datetime.now(UTC)


async def reconcile(namespace: str, name: str, logger: Logger) -> float:
    """One pass: gather, plan, apply, write status. Returns seconds until the next pass."""
    client = kube()
    body = await in_thread(client.get, API_VERSION, KIND, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return OPERATOR.max_poll_interval
    owner = Owner(name=name, namespace=namespace, uid=body["metadata"]["uid"])
    spec = parse(body)
    artifacts = await gather_artifacts(client, spec, namespace)
    deployment = await in_thread(client.get, "apps/v1", "Deployment", namespace, f"{name}-serving")
    service = await in_thread(client.get, "v1", "Service", namespace, name)
    pods = await in_thread(client.list, "v1", "Pod", namespace, selector_labels(owner, SERVING))
    now = clock()
    training = await plan_training_run(client, owner, body, spec, artifacts, now)
    training = await start_training(client, training, logger)
    observed = ServingObservation(
        spec=spec,
        generation=int(body["metadata"].get("generation", 1)),
        artifacts=artifacts,
        deployment=deployment,
        pods=pods,
        status=body.get("status") or {},
        training=training.active,
        training_failure=training.failure,
    )
    plan = plan_serving(owner, observed, now, ServingSettings(default_image=OPERATOR.server_image))
    await apply_plan(client, owner, body, plan, training, logger, observed=(deployment, service))
    if is_converging(plan.status):
        return OPERATOR.converge_interval
    delay = OPERATOR.max_poll_interval
    if isinstance(spec, ModelDeploymentSpec):
        delay = OPERATOR.poll_interval(spec.storage.poll_interval)
    if training.next_check is not None:
        delay = max(1.0, min(delay, (training.next_check - now).total_seconds()))
    return delay


async def plan_training_run(
    client: Kube,
    owner: Owner,
    body: Mapping[str, Any],
    spec: ModelDeploymentSpec | SpecError,
    artifacts: Sequence[VersionInfo] | ArtifactError,
    now: datetime,
) -> TrainingPlan:
    """Gather the training Jobs and their pods, then decide the training side."""
    if isinstance(spec, SpecError) or spec.training is None:
        return TrainingPlan((), None, (), active=False)
    labels = selector_labels(owner, TRAINING)
    jobs = await in_thread(client.list, "batch/v1", "Job", owner.namespace, labels)
    pods = await in_thread(client.list, "v1", "Pod", owner.namespace, labels)
    created = datetime.fromisoformat(body["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    return plan_training(
        owner,
        spec,
        artifacts,
        jobs,
        pods,
        (body.get("status") or {}).get("training"),
        created=created,
        now=now,
        settings=TrainingSettings(default_image=OPERATOR.trainer_image),
        retrain=(body["metadata"].get("annotations") or {}).get(RETRAIN_ANNOTATION),
        current_version=(body.get("status") or {}).get("currentVersion"),
    )


async def start_training(client: Kube, training: TrainingPlan, logger: Logger) -> TrainingPlan:
    """Create a new run's objects. When the API server refuses them (an env var or resource
    it will not accept), the run is recorded as failed with the server's own words, instead
    of the whole reconcile failing again on every pass."""
    try:
        for obj in training.objects:
            await in_thread(client.apply, obj)
    except ApiException as error:
        if error.status is None or not 400 <= error.status < 500 or error.status == 429:
            raise  # not about the objects: retried with backoff
        message = api_message(error)
        logger.warning(f"the training Job was refused: {message}")
        return refused_run(training, message)
    return training


def api_message(error: ApiException) -> str:
    """The API server's own sentence from an error response (its Status message)."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except ValueError:
        message = None
    return str(message or error.reason or f"HTTP {error.status}")


def parse(body: Mapping[str, Any]) -> ModelDeploymentSpec | SpecError:
    try:
        return parse_spec(body.get("spec") or {}, name=body["metadata"]["name"])
    except SpecError as error:
        return error


async def gather_artifacts(
    client: Kube, spec: ModelDeploymentSpec | SpecError, namespace: str
) -> Sequence[VersionInfo] | ArtifactError:
    """The store's listing of versions (cheap: no model bytes), or why it cannot be read."""
    if isinstance(spec, SpecError):
        return ()
    secret = None
    if spec.storage.secret_ref is not None:
        secret = await in_thread(
            client.get, "v1", "Secret", namespace, spec.storage.secret_ref.name
        )
    try:
        settings = storage_settings(spec.storage, secret, namespace=namespace)
        store = artifact_store(settings, parse_storage_uri(spec.model.storage_uri))
        versions: list[VersionInfo] = await in_thread(store.list_versions)
        return versions
    except ArtifactError as error:
        return error


@functools.lru_cache(maxsize=1024)
def artifact_store(settings: S3Settings, uri: StorageUri) -> ArtifactStore:
    """One store per credentials and base path, kept across polls: its manifests are read
    again only when their ETag changes, so a steady poll costs one listing and no GETs."""
    return ArtifactStore(s3_client(settings), uri)


def s3_client(settings: S3Settings) -> Any:
    """One client per distinct endpoint and credentials (clients are thread-safe)."""
    if settings not in _s3_clients:
        _s3_clients[settings] = make_s3_client(settings, concurrency=4)
    return _s3_clients[settings]


async def apply_plan(
    client: Kube,
    owner: Owner,
    body: Mapping[str, Any],
    plan: ServingPlan,
    training: TrainingPlan,
    logger: Logger,
    observed: Sequence[Mapping[str, Any] | None] = (),
) -> None:
    current = {_key(o): o for o in observed if o is not None}
    for obj in plan.objects:
        await apply_if_changed(client, obj, current.get(_key(obj)))
    namespace = owner.namespace
    for job in training.stale_jobs:
        await in_thread(client.delete, "batch/v1", "Job", namespace, job)
        # A multi-worker run's headless Service has the Job's name; only ours is deleted (a
        # ModelDeployment named like the Job would own a serving Service of that name).
        service = await in_thread(client.get, "v1", "Service", namespace, job)
        if service is not None and is_training_service(service, owner):
            await in_thread(client.delete, "v1", "Service", namespace, job)
    patch = dict(plan.status_patch)
    previous_training = (body.get("status") or {}).get("training")
    if training.training_status is not None and training.training_status != previous_training:
        # A merge patch merges nested objects: the old keys that are gone are named as null.
        patch["training"] = {
            **{key: None for key in previous_training or {}},
            **training.training_status,
        }
    if patch:
        meta = body["metadata"]
        await in_thread(client.patch_status, meta["namespace"], meta["name"], patch)
    for event in (*training.events, *plan.events):
        kopf.event(cast(Any, body), type=event.type, reason=event.reason, message=event.message)
        log = logger.warning if event.type == "Warning" else logger.info
        log(f"{event.reason}: {event.message}")


APPLIED_HASH = "modelship.io/applied-hash"
# Even an unchanged object is applied again this often, so an edit made behind the operator's
# back (kubectl edit) is undone within this time.
REAPPLY_AFTER = 600.0
_last_applied: dict[tuple[str, str, str, str], float] = {}


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def applied_hash(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


async def apply_if_changed(
    client: Kube, obj: Mapping[str, Any], observed: Mapping[str, Any] | None
) -> None:
    """Server-side apply, skipped when the object in the cluster was made from the same
    desired object (an idle resource then costs no writes at all)."""
    digest = applied_hash(obj)
    key = _key(obj)
    seen = ((observed or {}).get("metadata") or {}).get("annotations") or {}
    fresh = time.monotonic() - _last_applied.get(key, -REAPPLY_AFTER) < REAPPLY_AFTER
    if seen.get(APPLIED_HASH) == digest and fresh:
        return
    meta = dict(obj["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), APPLIED_HASH: digest}
    await in_thread(client.apply, {**obj, "metadata": meta})
    _last_applied[key] = time.monotonic()


def is_converging(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Reconciling" and c.get("status") == "True"
        for c in status.get("conditions", [])
    )


@kopf.on.event(GROUP, VERSION, PLURAL)
def model_deployment_changed(event: Mapping[str, Any], **_: Any) -> None:
    """A spec change, or a new value of the retrain annotation, wakes the loop at once
    instead of at the next poll."""
    obj = event.get("object") or {}
    meta = obj.get("metadata", {})
    status = obj.get("status") or {}
    retrain = (meta.get("annotations") or {}).get(RETRAIN_ANNOTATION)
    retrain_seen = (status.get("training") or {}).get("retrain")
    if meta.get("generation") != status.get("observedGeneration") or (
        retrain is not None and retrain != retrain_seen
    ):
        wake(meta.get("namespace"), meta.get("name"))


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
@kopf.on.event("", "v1", "pods", labels=MANAGED)
@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)
def owned_object_changed(event: Mapping[str, Any], **_: Any) -> None:
    """A change in what the resource owns (a pod crashing, becoming ready) wakes its loop."""
    meta = (event.get("object") or {}).get("metadata", {})
    wake(meta.get("namespace"), (meta.get("labels") or {}).get(LABEL_INSTANCE))
