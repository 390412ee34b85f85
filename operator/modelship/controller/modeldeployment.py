"""kopf handlers for ModelDeployment: thin. Each resource gets one reconcile loop (an asyncio
task the `Operator` keeps) that gathers what is observed, asks `reconcile.plan_serving` what to
do, applies the objects with server-side apply, writes the status when it changed and posts
the Events.

The loop is level-triggered: it wakes when the spec changes, when one of the resource's
Deployments, Services, Pods, Jobs or its Secret changes, and otherwise every
`spec.storage.pollInterval` to look for new versions. Everything it reads of the cluster comes
from the watch-fed cache (controller/cache.py), so an idle resource costs no API request; it
writes only what changed. Nothing is kept in memory that the cluster does not also hold, so
restarting the operator at any moment loses nothing and creates no duplicates.

No finalizer: owned objects go with their ModelDeployment by owner references, so deleting
one (or its namespace) never waits for the operator. kopf removes the finalizer that older
versions (a kopf daemon) put on existing resources.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import kopf
from kubernetes.client.exceptions import ApiException

from modelship.api import (
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    ModelDeploymentSpec,
    SpecError,
    parse_spec,
    set_condition,
)
from modelship.api.reasons import DRIFT_DETECTED
from modelship.artifacts import ArtifactError, VersionInfo
from modelship.artifacts.uri import parse_storage_uri
from modelship.controller import metrics
from modelship.controller.cache import MANAGED
from modelship.controller.monitoring import check_drift
from modelship.controller.operator import Operator
from modelship.controller.storage import Freshness
from modelship.reconcile.analysis import Measurement
from modelship.reconcile.deployment import ServingSettings, canary_deployment_name
from modelship.reconcile.desired import ServingObservation, ServingPlan, plan_serving
from modelship.reconcile.drift import DriftAssessment, retrain_started
from modelship.reconcile.findings import Finding
from modelship.reconcile.jobs import job_end
from modelship.reconcile.lifecycle import (
    RETRAIN_ANNOTATION,
    TrainingPlan,
    plan_training,
    refused_run,
)
from modelship.reconcile.optimization import (
    NOTHING,
    OPTIMIZATION,
    OptimizationPlan,
    plan_optimization,
    refused_optimization,
    reserving_versions,
)
from modelship.reconcile.owner import LABEL_INSTANCE, SERVING, TRAINING, Owner
from modelship.reconcile.refusal import OBJECT_REFUSED, refused_object_patch
from modelship.reconcile.rollout import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from modelship.reconcile.status import Event
from modelship.reconcile.storage import storage_settings
from modelship.reconcile.traffic import (
    HTTPROUTE_API_VERSION,
    HTTPROUTE_KIND,
    canary_service_name,
    route_forbidden,
    route_not_found,
    route_wanted,
    stable_service_name,
)
from modelship.reconcile.training import TrainingSettings, is_training_service

Logger = logging.Logger | logging.LoggerAdapter[Any]
log = logging.getLogger("modelship.reconcile")


def operator_of(memo: Any) -> Operator:
    """The one `Operator` of this process (kopf copies the memo per object, not its values)."""
    return cast(Operator, memo["operator"])


async def reconcile_loop(op: Operator, namespace: str, name: str) -> None:
    """One reconcile loop per ModelDeployment, for as long as it exists."""
    wakeup = op.wakeups[(namespace, name)]
    logger = logging.LoggerAdapter(log, {"object": f"{namespace}/{name}"})
    failures = 0
    last_error = ""
    while True:
        await op.wait_leading()
        started = time.perf_counter()
        try:
            delay = await bounded_pass(op, namespace, name, logger, wakeup)
            failures, last_error = 0, ""
            result = "converging" if delay <= op.settings.converge_interval else "steady"
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the loop must survive anything; the next try heals
            failures += 1
            delay = min(2.0**failures, 60.0)
            result = "error"
            metrics.RECONCILE_ERRORS.labels(error=type(error).__name__).inc()
            described = f"{type(error).__name__}: {error}"
            if is_namespace_terminating(error):
                # Expected while a namespace is deleted: the loop ends with its resource.
                logger.info(f"{namespace}/{name}: the namespace is being deleted")
            elif described != last_error:
                logger.exception(
                    f"{namespace}/{name}: reconcile failed ({type(error).__name__}); "
                    f"retrying in {delay:.0f}s"
                )
            else:
                logger.warning(f"{namespace}/{name}: reconcile failed again: {described}")
            last_error = described
        metrics.RECONCILES.labels(result=result).inc()
        metrics.RECONCILE_DURATION.labels(result=result).observe(time.perf_counter() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=delay)


async def bounded_pass(
    op: Operator, namespace: str, name: str, logger: Logger, wakeup: asyncio.Event
) -> float:
    """One pass in one of the operator's limited slots (passes beyond the limit wait their
    turn, first come first served), so a burst of changes never runs unbounded. The wake-up
    is cleared only once the slot is held, just before the pass reads the cache: the changes
    that arrived while it waited are all seen by this pass, instead of each asking for
    another one (at hundreds converging, most passes were such repeats)."""
    slots = op.slots()
    metrics.RECONCILES_WAITING.inc()
    try:
        await slots.acquire()
    finally:
        metrics.RECONCILES_WAITING.dec()
    wakeup.clear()
    try:
        with metrics.RECONCILES_IN_FLIGHT.track_inprogress():
            return await reconcile(op, namespace, name, logger)
    finally:
        slots.release()


def is_namespace_terminating(error: Exception) -> bool:
    return isinstance(error, ApiException) and "NamespaceTerminating" in str(error.body or "")


async def reconcile(op: Operator, namespace: str, name: str, logger: Logger) -> float:
    """One pass: gather (from the cache), plan, apply, write status. Returns seconds until
    the next pass."""
    settings = op.settings
    body = op.cache.model_deployment(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return settings.max_poll_interval
    owner = Owner(name=name, namespace=namespace, uid=body["metadata"]["uid"])
    spec = op.parsed(body, parse)
    # Our Jobs are read before the store is listed: the trainer (and the optimization run)
    # publishes before it exits, so a Job seen complete here has its version in the listing.
    runs = training_runs(op, owner, spec)
    optimizing = op.cache.jobs(namespace, name, OPTIMIZATION)
    freshness = listing_freshness(op, body, spec, [*runs[0], *optimizing])
    artifacts = await gather_artifacts(op, spec, namespace, freshness)
    deployment = op.cache.deployment(namespace, f"{name}-serving")
    canary = op.cache.deployment(namespace, canary_deployment_name(name))
    service = op.cache.service(namespace, name)
    pods = op.cache.pods(namespace, name, SERVING)
    now = op.clock()
    status = body.get("status") or {}
    drift = await check_drift(spec, body, pods, artifacts, now, poll_interval(op, spec))
    # A training run must not take the number an optimization run is about to publish.
    reserved = reserving_versions(artifacts, status.get("optimize"))
    training = plan_training_run(
        op, owner, body, spec, reserved, runs, now, drift=drift.retrain if drift else None
    )
    training = await start_training(op, training, logger)
    optimization = plan_optimization_run(
        op, owner, body, spec, artifacts, optimizing, training, now
    )
    optimization = await start_optimization(op, optimization, logger)
    measured, next_measurement = await measure_canary(op, namespace, name, body, spec, pods, now)
    observed = ServingObservation(
        spec=spec,
        generation=int(body["metadata"].get("generation", 1)),
        artifacts=artifacts,
        deployment=deployment,
        pods=pods,
        status=body.get("status") or {},
        training=training.active,
        training_failure=training.failure,
        canary_deployment=canary,
        annotations=body["metadata"].get("annotations") or {},
        measurement=measured,
    )
    serving_settings = ServingSettings(default_image=settings.server_image)
    plan = plan_serving(owner, observed, now, serving_settings)
    if route_wanted(spec, plan.status):
        # Read only while a rollout is (or is about to be) in flight, or until the route
        # has the weights the status says it should: a resource at rest reads no route.
        observed = dataclasses.replace(observed, http_route=await read_route(op, owner, spec))
        plan = plan_serving(owner, observed, now, serving_settings)
    observed_objects = (
        deployment,
        service,
        canary,
        op.cache.service(namespace, stable_service_name(name)),
        op.cache.service(namespace, canary_service_name(name)),
    )
    await apply_plan(
        op,
        owner,
        body,
        plan,
        training,
        logger,
        observed=observed_objects,
        drift=drift,
        optimization=optimization,
    )
    if is_converging(plan.status) and not waits_for_a_person(plan.status):
        return settings.converge_interval
    delay = poll_interval(op, spec)
    if training.next_check is not None:
        delay = max(1.0, min(delay, (training.next_check - now).total_seconds()))
    if next_measurement is not None:
        delay = max(0.5, min(delay, (next_measurement - now).total_seconds()))
    return delay


async def read_route(
    op: Operator, owner: Owner, spec: ModelDeploymentSpec | SpecError
) -> dict[str, Any] | Finding | None:
    """The HTTPRoute of spec.rollout.httpRoute, or why it cannot be read (missing, no Gateway
    API in the cluster, no permission)."""
    if not isinstance(spec, ModelDeploymentSpec) or spec.rollout.http_route is None:
        return None
    name = spec.rollout.http_route.name
    try:
        route: dict[str, Any] = await op.in_thread(
            op.kube.read, HTTPROUTE_API_VERSION, HTTPROUTE_KIND, owner.namespace, name
        )
    except ApiException as error:
        if error.status == 404:
            return route_not_found(name, error.body)
        if error.status == 403:
            return route_forbidden(name, api_message(error))
        raise
    return route


def training_runs(
    op: Operator, owner: Owner, spec: ModelDeploymentSpec | SpecError
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training Jobs and their pods (from the cache); none without spec.training."""
    if isinstance(spec, SpecError) or spec.training is None:
        return [], []
    jobs = op.cache.jobs(owner.namespace, owner.name, TRAINING)
    pods = op.cache.pods(owner.namespace, owner.name, TRAINING)
    return jobs, pods


LISTING_REUSE_SECONDS = 10.0
"""Longest a pass between polls reuses the store's last listing (at most half the poll)."""


def listing_freshness(
    op: Operator,
    body: Mapping[str, Any],
    spec: ModelDeploymentSpec | SpecError,
    jobs: Sequence[Mapping[str, Any]],
) -> Freshness:
    """Whether this pass may reuse a listing of a few seconds ago: not when the spec changed
    since the last status (a new pin or URI must be judged on a fresh listing), not while a
    Job of ours runs (its pods may end, with their version published, before the Job says
    so), and not a listing older than the end of a Job of ours (its version must be seen; the
    API's times have whole seconds, hence the second added). The real wall clock, not
    `op.clock`: it is compared with the API server's own timestamps, which an injected clock
    would not move."""
    now = datetime.now(UTC)
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return Freshness(now)
    if any(job_end(job) is None for job in jobs):
        return Freshness(now)
    within = min(LISTING_REUSE_SECONDS, poll_interval(op, spec) / 2)
    ends = [end for job in jobs if (end := job_end(job)) is not None]
    return Freshness(now, within, max(ends) + timedelta(seconds=1) if ends else None)


def poll_interval(op: Operator, spec: ModelDeploymentSpec | SpecError) -> float:
    """Seconds between two passes of a steady resource."""
    if isinstance(spec, ModelDeploymentSpec):
        return op.settings.poll_interval(spec.storage.poll_interval)
    return op.settings.max_poll_interval


async def measure_canary(
    op: Operator,
    namespace: str,
    name: str,
    body: Mapping[str, Any],
    spec: ModelDeploymentSpec | SpecError,
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
) -> tuple[Measurement | None, datetime | None]:
    """The canary's analysis (spec.rollout.analysis): a scrape of the serving pods when one is
    due, and the measurement over the interval since the previous scrape."""
    key = (namespace, name)
    if (
        isinstance(spec, SpecError)
        or spec.rollout.strategy not in ("Canary", "BlueGreen")
        or spec.rollout.analysis is None
    ):
        op.pod_metrics.forget(key)
        return None, None
    rollout = (body.get("status") or {}).get("rollout") or {}
    return await op.pod_metrics.measure(
        key, spec.rollout.analysis, rollout, pods, spec.serving.port, now
    )


def plan_training_run(
    op: Operator,
    owner: Owner,
    body: Mapping[str, Any],
    spec: ModelDeploymentSpec | SpecError,
    artifacts: Sequence[VersionInfo] | ArtifactError,
    runs: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    now: datetime,
    drift: str | None = None,
) -> TrainingPlan:
    """Decide the training side from the Jobs and pods `training_runs` read."""
    if isinstance(spec, SpecError) or spec.training is None:
        return TrainingPlan((), None, (), active=False)
    jobs, pods = runs
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
        settings=TrainingSettings(default_image=op.settings.trainer_image),
        retrain=(body["metadata"].get("annotations") or {}).get(RETRAIN_ANNOTATION),
        current_version=(body.get("status") or {}).get("currentVersion"),
        drift=drift,
    )


def plan_optimization_run(
    op: Operator,
    owner: Owner,
    body: Mapping[str, Any],
    spec: ModelDeploymentSpec | SpecError,
    artifacts: Sequence[VersionInfo] | ArtifactError,
    jobs: Sequence[Mapping[str, Any]],
    training: TrainingPlan,
    now: datetime,
) -> OptimizationPlan:
    """Decide the optimization side from its Jobs (read before the store was listed, like the
    training Jobs) and their pods (from the cache)."""
    if isinstance(spec, SpecError) or spec.optimize is None:
        return NOTHING
    status = body.get("status") or {}
    training_status = training.training_status or status.get("training") or {}
    return plan_optimization(
        owner,
        spec,
        artifacts,
        jobs,
        op.cache.pods(owner.namespace, owner.name, OPTIMIZATION),
        status.get("optimize"),
        now=now,
        settings=TrainingSettings(default_image=op.settings.trainer_image),
        training_active=training.active,
        training_version=training_status.get("version"),
        current_version=status.get("currentVersion"),
    )


async def start_optimization(
    op: Operator, optimization: OptimizationPlan, logger: Logger
) -> OptimizationPlan:
    """Create a new run's Job; a refusal by the API server is recorded as a failed run."""
    try:
        for obj in optimization.objects:
            created = await op.in_thread(op.kube.apply, obj)
            op.cache.wrote(None, created)
    except ApiException as error:
        if error.status is None or not 400 <= error.status < 500 or error.status == 429:
            raise
        message = api_message(error)
        logger.warning(f"the optimization Job was refused: {message}")
        return refused_optimization(optimization, message)
    return optimization


async def start_training(op: Operator, training: TrainingPlan, logger: Logger) -> TrainingPlan:
    """Create a new run's objects. When the API server refuses them (an env var or resource
    it will not accept), the run is recorded as failed with the server's own words, instead
    of the whole reconcile failing again on every pass."""
    try:
        for obj in training.objects:
            created = await op.in_thread(op.kube.apply, obj)
            op.cache.wrote(None, created)  # seen by the next pass even before the watch
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
    op: Operator,
    spec: ModelDeploymentSpec | SpecError,
    namespace: str,
    freshness: Freshness,
) -> Sequence[VersionInfo] | ArtifactError:
    """The store's listing of versions (cheap: no model bytes), or why it cannot be read
    within the poll interval; a listing of a few seconds ago where `freshness` allows."""
    if isinstance(spec, SpecError):
        return ()
    secret = None
    if spec.storage.secret_ref is not None:
        secret = op.cache.secret(namespace, spec.storage.secret_ref.name)
    try:
        settings = storage_settings(spec.storage, secret, namespace=namespace)
        uri = parse_storage_uri(spec.model.storage_uri)
    except ArtifactError as error:
        return error
    deadline = op.settings.poll_interval(spec.storage.poll_interval)
    if (reused := op.storage.recent(settings, uri, freshness)) is not None:
        metrics.S3_LISTINGS.labels(result="reused").inc()
        return reused
    started = time.perf_counter()
    listed = await op.storage.list_versions(settings, uri, deadline, freshness)
    result = "error" if isinstance(listed, ArtifactError) else "ok"
    metrics.S3_LISTINGS.labels(result=result).inc()
    metrics.S3_LISTING_DURATION.labels(result=result).observe(time.perf_counter() - started)
    return listed


async def apply_plan(
    op: Operator,
    owner: Owner,
    body: Mapping[str, Any],
    plan: ServingPlan,
    training: TrainingPlan,
    logger: Logger,
    observed: Sequence[Mapping[str, Any] | None] = (),
    drift: DriftAssessment | None = None,
    optimization: OptimizationPlan = NOTHING,
) -> None:
    current = {_key(o): o for o in observed if o is not None}
    # Services first, then the route's weights, then the rest: a Service selects its new
    # version before the route sends it traffic, and traffic leaves pods before they go.
    services = [o for o in plan.objects if o["kind"] == "Service"]
    rest = [o for o in plan.objects if o["kind"] != "Service"]
    for obj in services:
        await apply_object(op, body, obj, current, logger)
    if plan.route_patch is not None:
        await op.in_thread(
            op.kube.json_patch,
            HTTPROUTE_API_VERSION,
            HTTPROUTE_KIND,
            owner.namespace,
            plan.route_patch.name,
            plan.route_patch.operations,
        )
        logger.info(
            f"{owner.namespace}/{owner.name}: HTTPRoute {plan.route_patch.name}: weights "
            f"{plan.status.get('rollout', {}).get('httpRoute')}"
        )
    for obj in rest:
        await apply_object(op, body, obj, current, logger)
    namespace = owner.namespace
    for job in training.stale_jobs:
        await op.in_thread(op.kube.delete, "batch/v1", "Job", namespace, job)
        # A multi-worker run's headless Service has the Job's name; only ours is deleted (a
        # ModelDeployment named like the Job would own a serving Service of that name).
        service = op.cache.service(namespace, job)
        if service is not None and is_training_service(service, owner):
            await op.in_thread(op.kube.delete, "v1", "Service", namespace, job)
    for job in optimization.stale_jobs:
        await op.in_thread(op.kube.delete, "batch/v1", "Job", namespace, job)
    patch = dict(plan.status_patch)
    previous_training = (body.get("status") or {}).get("training")
    if training.training_status is not None and training.training_status != previous_training:
        # A merge patch merges nested objects: the old keys that are gone are named as null.
        patch["training"] = {
            **{key: None for key in previous_training or {}},
            **training.training_status,
        }
    if drift is not None:
        patch.update(
            drift_status_patch(body.get("status") or {}, patch, drift, training, op.clock())
        )
    previous_optimize = (body.get("status") or {}).get("optimize")
    wanted = optimization.optimize_status
    if wanted is not None and wanted != previous_optimize:
        patch["optimize"] = {**{key: None for key in previous_optimize or {}}, **wanted}
    if patch:
        meta = body["metadata"]
        updated = await op.in_thread(op.kube.patch_status, meta["namespace"], meta["name"], patch)
        op.cache.wrote(body, updated)
    drift_events = drift.events if drift is not None else ()
    for event in (*training.events, *optimization.events, *plan.events, *drift_events):
        write = logger.warning if event.type == "Warning" else logger.info
        write(f"{namespace}/{owner.name}: {event.reason}: {event.message}")
        await post_event(op, body, event, logger)


async def apply_object(
    op: Operator,
    body: Mapping[str, Any],
    obj: Mapping[str, Any],
    current: Mapping[tuple[str, str, str, str], Mapping[str, Any]],
    logger: Logger,
) -> None:
    try:
        await apply_if_changed(op, obj, current.get(_key(obj)))
    except ApiException as error:
        if not is_refusal(error):
            raise
        await report_refusal(op, body, obj, error, logger)
        raise  # retried with backoff; the status says why meanwhile


def drift_status_patch(
    status: Mapping[str, Any],
    patch: Mapping[str, Any],
    drift: DriftAssessment,
    training: TrainingPlan,
    now: datetime,
) -> dict[str, Any]:
    """status.monitoring and the DataDrift condition after a drift check, as a merge patch
    on top of `patch` (the rest of this pass's status changes)."""
    monitoring = drift.status
    started = training.training_status or {}
    if training.objects and started.get("reason") == DRIFT_DETECTED:
        monitoring = retrain_started(monitoring, now)  # the cooldown counts from now
    changes: dict[str, Any] = {}
    before = status.get("monitoring") or {}
    if monitoring != before:
        changes["monitoring"] = {**{k: None for k in before if k not in monitoring}, **monitoring}
    conditions = list(patch.get("conditions") or status.get("conditions") or [])
    updated = set_condition(conditions, drift.condition, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if updated != list(status.get("conditions") or []):
        changes["conditions"] = updated
    return changes


def is_refusal(error: ApiException) -> bool:
    """The API server will not take the object as it is (not a conflict, not a throttle, not
    a namespace on its way out): a person must change something."""
    status = error.status or 0
    return 400 <= status < 500 and status not in (409, 429) and not is_namespace_terminating(error)


async def report_refusal(
    op: Operator,
    body: Mapping[str, Any],
    obj: Mapping[str, Any],
    error: ApiException,
    logger: Logger,
) -> None:
    meta = body["metadata"]
    says = api_message(error)
    patch = refused_object_patch(
        body.get("status") or {},
        obj["kind"],
        obj["metadata"]["name"],
        says,
        int(meta.get("generation", 1)),
        op.clock(),
    )
    if not patch:
        return  # already said, nothing new to write
    logger.warning(f"{meta['namespace']}/{meta['name']}: {obj['kind']} refused: {says}")
    updated = await op.in_thread(op.kube.patch_status, meta["namespace"], meta["name"], patch)
    op.cache.wrote(body, updated)
    message = patch["conditions"][0]["message"] if patch["conditions"] else says
    await post_event(op, body, Event("Warning", OBJECT_REFUSED, message), logger)


async def post_event(op: Operator, body: Mapping[str, Any], event: Event, logger: Logger) -> None:
    """Posts an Event on the ModelDeployment. Best effort: an Event that cannot be posted (the
    namespace is being deleted, the API server is busy) never fails the reconcile."""
    try:
        await op.in_thread(op.kube.create, event_object(body, event, op.clock()))
    except ApiException as error:
        if not is_namespace_terminating(error):
            logger.warning(f"the Event {event.reason} was not posted: {api_message(error)}")


def event_object(body: Mapping[str, Any], event: Event, now: datetime) -> dict[str, Any]:
    """A core/v1 Event about the ModelDeployment, as `kubectl describe` shows it."""
    meta = body["metadata"]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": body.get("apiVersion", f"{GROUP}/{VERSION}"),
            "kind": body.get("kind", KIND),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "type": event.type,
        "reason": event.reason,
        "message": event.message[:1024],  # as kopf cut them (its MAX_MESSAGE_LENGTH)
        "source": {"component": "modelship"},
        "reportingComponent": "modelship",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


APPLIED_HASH = "modelship.io/applied-hash"
# Even an unchanged object is applied again this often, so an edit made behind the operator's
# back (kubectl edit) is undone within this time.
REAPPLY_AFTER = 600.0


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def applied_hash(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def needs_apply(
    digest: str, observed: Mapping[str, Any] | None, applied_at: float | None, now: float
) -> bool:
    """Apply unless the object in the cluster was made from the same desired object and we
    applied it less than REAPPLY_AFTER ago (an idle resource then costs no writes at all)."""
    seen = ((observed or {}).get("metadata") or {}).get("annotations") or {}
    fresh = applied_at is not None and now - applied_at < REAPPLY_AFTER
    return not (seen.get(APPLIED_HASH) == digest and fresh)


async def apply_if_changed(
    op: Operator, obj: Mapping[str, Any], observed: Mapping[str, Any] | None
) -> None:
    """Server-side apply, skipped when nothing changed (see `needs_apply`)."""
    digest = applied_hash(obj)
    key = _key(obj)
    if not needs_apply(digest, observed, op.applied.get(key), time.monotonic()):
        return
    meta = dict(obj["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), APPLIED_HASH: digest}
    applied = await op.in_thread(op.kube.apply, {**obj, "metadata": meta})
    op.cache.wrote(observed, applied)
    op.applied[key] = time.monotonic()


def is_converging(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Reconciling" and c.get("status") == "True"
        for c in status.get("conditions", [])
    )


def waits_for_a_person(status: Mapping[str, Any]) -> bool:
    """A canary paused until promoted: nothing changes by itself (the promote and abort
    annotations and the pods' changes wake the loop), so it is polled like a steady one."""
    return (status.get("rollout") or {}).get("phase") == "Paused"


def wants_attention(obj: Mapping[str, Any]) -> bool:
    """A spec change, or a new value of the retrain, promote or abort annotation: worth a
    pass at once instead of at the next poll."""
    meta = obj.get("metadata", {})
    status = obj.get("status") or {}
    annotations = meta.get("annotations") or {}
    retrain = annotations.get(RETRAIN_ANNOTATION)
    retrain_seen = (status.get("training") or {}).get("retrain")
    rollout = status.get("rollout") or {}
    requested = any(
        annotations.get(key) is not None and annotations.get(key) != rollout.get(seen)
        for key, seen in ((PROMOTE_ANNOTATION, "promoteSeen"), (ABORT_ANNOTATION, "abortSeen"))
    )
    return (
        meta.get("generation") != status.get("observedGeneration")
        or (retrain is not None and retrain != retrain_seen)
        or (requested and bool(rollout))
    )


@kopf.on.event(GROUP, VERSION, PLURAL)
async def model_deployment_changed(event: Mapping[str, Any], memo: Any, **kwargs: Any) -> None:
    """Starts the resource's loop when it is first seen, stops it when the resource goes,
    and wakes it for a spec change or a retrain request."""
    op = operator_of(memo)
    op.cache.attach(kwargs)
    obj = event.get("object") or {}
    meta = obj.get("metadata", {})
    key = (meta.get("namespace") or "", meta.get("name") or "")
    if event.get("type") == "DELETED" or meta.get("deletionTimestamp"):
        op.stop_loop(key)
        return
    if key not in op.loops:
        op.start_loop(key, lambda: reconcile_loop(op, *key))
    elif wants_attention(obj):
        op.wake(*key)


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
@kopf.on.event("", "v1", "services", labels=MANAGED)
@kopf.on.event("", "v1", "pods", labels=MANAGED)
@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)
async def owned_object_changed(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
    """A change in what the resource owns (a pod crashing, becoming ready) wakes its loop.
    (async: kopf runs sync handlers in threads, and an asyncio.Event is set from its loop.)"""
    meta = (event.get("object") or {}).get("metadata", {})
    operator_of(memo).wake(meta.get("namespace"), (meta.get("labels") or {}).get(LABEL_INSTANCE))


@kopf.on.event("", "v1", "secrets")
async def secret_changed(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
    """New or rotated S3 credentials: the resources that name the Secret look again now."""
    meta = (event.get("object") or {}).get("metadata", {})
    op = operator_of(memo)
    namespace = meta.get("namespace")
    for key in list(op.loops):
        if key[0] != namespace:
            continue
        body = op.cache.model_deployment(*key)
        ref = (((body or {}).get("spec") or {}).get("storage") or {}).get("secretRef") or {}
        if ref.get("name") == meta.get("name"):
            op.wake(*key)
