"""kopf handlers for ModelDeployment: thin. Each resource gets one reconcile loop (an asyncio
task the `Operator` keeps) that gathers what is observed into one `Observation`, asks
`reconcile.modeldeployment.plan_model_deployment` what to do, applies the plan's objects with
server-side apply, writes its one status patch when something changed and posts the Events.

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
)
from modelship.api.timestamps import parse_timestamp
from modelship.artifacts import ArtifactError, VersionInfo
from modelship.artifacts.uri import parse_storage_uri
from modelship.controller import metrics
from modelship.controller.cache import MANAGED
from modelship.controller.monitoring import read_drift
from modelship.controller.operator import Operator
from modelship.controller.storage import Freshness
from modelship.reconcile.analysis import Measurement
from modelship.reconcile.deployment import canary_deployment_name, serving_deployment_name
from modelship.reconcile.findings import Finding
from modelship.reconcile.jobs import job_end
from modelship.reconcile.modeldeployment import (
    Observation,
    Plan,
    PlanSettings,
    plan_model_deployment,
    run_of,
    wants_attention,
)
from modelship.reconcile.optimization import OPTIMIZATION
from modelship.reconcile.owner import LABEL_INSTANCE, SERVING, TRAINING, Owner
from modelship.reconcile.refusal import OBJECT_REFUSED, refused_object_patch
from modelship.reconcile.status import Event, only_progress
from modelship.reconcile.storage import storage_settings
from modelship.reconcile.traffic import (
    HTTPROUTE_API_VERSION,
    HTTPROUTE_KIND,
    canary_service_name,
    route_forbidden,
    route_not_found,
    stable_service_name,
)

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
    polled = False  # whether this pass is the poll of a steady resource (the timer ran out)
    await op.wait_leading()
    # One line per resource when this replica first acts on it (kopf's own line per watch
    # event is off): the log shows which replica took which resources.
    logger.info(f"{namespace}/{name}: reconciling it")
    while True:
        await op.wait_leading()
        try:
            delay, converging = await bounded_pass(
                op, namespace, name, logger, wakeup, polled=polled
            )
            failures, last_error = 0, ""
            result = "converging" if converging else "steady"
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
        try:
            await asyncio.wait_for(wakeup.wait(), timeout=delay)
            polled = False
        except TimeoutError:
            polled = result == "steady"


async def bounded_pass(
    op: Operator,
    namespace: str,
    name: str,
    logger: Logger,
    wakeup: asyncio.Event,
    polled: bool = False,
) -> tuple[float, bool]:
    """One pass in one of the operator's limited slots (passes beyond the limit wait their
    turn, first come first served), so a burst of changes never runs unbounded. The wake-up
    is cleared only once the slot is held, just before the pass reads the cache: the changes
    that arrived while it waited are all seen by this pass, instead of each asking for
    another one (at hundreds converging, most passes were such repeats)."""
    slots = op.slots()
    metrics.RECONCILES_WAITING.inc()
    queued = time.perf_counter()
    try:
        await slots.acquire()
    finally:
        metrics.RECONCILES_WAITING.dec()
    started = time.perf_counter()
    metrics.RECONCILE_SLOT_WAIT.observe(started - queued)
    wakeup.clear()
    result: str | None = "error"
    try:
        with metrics.RECONCILES_IN_FLIGHT.track_inprogress():
            delay, converging = await reconcile(op, namespace, name, logger, polled)
        result = "converging" if converging else "steady"
        return delay, converging
    except asyncio.CancelledError:
        result = None  # stopped, not a pass that ended
        raise
    finally:
        slots.release()
        if result is not None:
            metrics.RECONCILE_DURATION.labels(result=result).observe(time.perf_counter() - started)


def is_namespace_terminating(error: Exception) -> bool:
    return isinstance(error, ApiException) and "NamespaceTerminating" in str(error.body or "")


async def reconcile(
    op: Operator, namespace: str, name: str, logger: Logger, polled: bool = False
) -> tuple[float, bool]:
    """One pass: gather (the cache, the store's listing, the pods' drift counts, the canary's
    measurement), plan (`plan_model_deployment`), apply the objects, write the status once,
    post the Events. Returns seconds until the next pass and whether the resource is
    converging. `polled`: the pass is a steady resource's poll, which must see what the store
    holds now."""
    body = op.cache.model_deployment(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return op.settings.max_poll_interval, False
    observed, now = await gather(op, body, polled)
    plan = plan_model_deployment(observed, now)
    observed, plan = await start_runs(op, observed, plan, now, logger)
    if plan.route_wanted:
        # Read only while a rollout is (or is about to be) in flight, or until the route
        # has the weights the status says it should: a resource at rest reads no route.
        # (After the runs started: a refused one changes the plan the route is read for.)
        route = await read_route(op, observed.owner, observed.spec)
        observed = dataclasses.replace(observed, http_route=route)
        plan = plan_model_deployment(observed, now)
    requeue = plan.requeue_after
    if status_wait := await apply_plan(op, body, observed, plan, logger):
        requeue = min(requeue, status_wait)  # a pass must come by then to write the status
    return requeue, plan.converging


async def gather(
    op: Operator, body: Mapping[str, Any], polled: bool = False
) -> tuple[Observation, datetime]:
    """Everything one pass decides from, and the clock's time it was gathered at: from the
    cache, the store's listing, and the serving pods (drift counts, the canary's metrics)."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    owner = Owner(name=name, namespace=namespace, uid=meta["uid"])
    spec = op.parsed(body, parse)
    status = body.get("status") or {}
    # Our Jobs are read before the store is listed: the trainer (and the optimization run)
    # publishes before it exits, so a Job seen complete here has its version in the listing.
    training_jobs, training_pods = training_runs(op, owner, spec)
    optimization_jobs = op.cache.jobs(namespace, name, OPTIMIZATION)
    freshness = listing_freshness(
        op, body, spec, [*training_jobs, *optimization_jobs], polled=polled
    )
    artifacts = await gather_artifacts(op, spec, namespace, freshness)
    pods = op.cache.pods(namespace, name, SERVING)
    now = op.clock()
    poll = poll_interval(op, spec)
    drift = await read_drift(spec, name, status, pods, artifacts, now, poll)
    measured, next_measurement = await measure_canary(op, namespace, name, body, spec, pods, now)
    service_names = (
        name,
        stable_service_name(name),
        canary_service_name(name),
        *(job["metadata"]["name"] for job in training_jobs),  # a multi-worker run's
    )
    services = {
        service_name: service
        for service_name in service_names
        if (service := op.cache.service(namespace, service_name)) is not None
    }
    observed = Observation(
        owner=owner,
        spec=spec,
        generation=int(meta.get("generation", 1)),
        created=parse_timestamp(meta.get("creationTimestamp")) or now,
        artifacts=artifacts,
        poll_interval=poll,
        annotations=meta.get("annotations") or {},
        status=status,
        deployment=op.cache.deployment(namespace, serving_deployment_name(name)),
        canary_deployment=op.cache.deployment(namespace, canary_deployment_name(name)),
        services=services,
        pods=pods,
        training_jobs=training_jobs,
        training_pods=training_pods,
        optimization_jobs=optimization_jobs,
        optimization_pods=op.cache.pods(namespace, name, OPTIMIZATION),
        drift=drift,
        measurement=measured,
        next_measurement=next_measurement,
        settings=PlanSettings(
            server_image=op.settings.server_image,
            trainer_image=op.settings.trainer_image,
            converge_interval=op.settings.converge_interval,
        ),
    )
    return observed, now


async def start_runs(
    op: Operator, observed: Observation, plan: Plan, now: datetime, logger: Logger
) -> tuple[Observation, Plan]:
    """Apply the objects that start a training or optimization run, first. When the API
    server refuses one (an env var or resource it will not accept), the pass is planned again
    with the refusal in the observation, so the run is recorded as failed with the server's
    own words, instead of the whole reconcile failing again on every pass."""
    started: set[tuple[str, str, str, str]] = set()
    while True:
        for obj in plan.runs:
            if _key(obj) in started:
                continue  # applied before a later run's refusal: once per pass is enough
            run = run_of(obj)
            try:
                created = await op.in_thread(op.kube.apply, obj)
            except ApiException as error:
                if not is_refusal(error) or run is None or run in observed.refused:
                    raise  # not about the objects: retried with backoff
                message = api_message(error)
                logger.warning(f"the {run} Job was refused: {message}")
                await remove_run_leftovers(op, plan, run, started)
                observed = dataclasses.replace(observed, refused={**observed.refused, run: message})
                plan = plan_model_deployment(observed, now)
                break
            op.cache.wrote(None, created)  # seen by the next pass even before the watch
            started.add(_key(obj))
        else:
            return observed, plan


async def remove_run_leftovers(
    op: Operator, plan: Plan, run: str, applied: set[tuple[str, str, str, str]]
) -> None:
    """A refused run's objects applied before its Job (a multi-worker run's headless
    Service) would stay with nothing to serve: they go with the refusal."""
    for obj in plan.runs:
        if run_of(obj) == run and obj["kind"] != "Job" and _key(obj) in applied:
            api_version, kind, namespace, name = _key(obj)
            with contextlib.suppress(ApiException):  # best effort: owned, so GC'd with us
                await op.in_thread(op.kube.delete, api_version, kind, namespace, name)
                op.cache.deleted(kind, namespace, name)
            applied.discard(_key(obj))


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
POLL_SHARE_SECONDS = 1.0
"""Longest a poll reuses a listing of the same store (another ModelDeployment's on the same
model): a new version is then seen within the poll interval and a second, while a thousand
resources on one model do not list it a thousand times per poll."""


def listing_freshness(
    op: Operator,
    body: Mapping[str, Any],
    spec: ModelDeploymentSpec | SpecError,
    jobs: Sequence[Mapping[str, Any]],
    polled: bool = False,
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
    if polled:
        within = min(within, POLL_SHARE_SECONDS)
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
    listed = await op.storage.list_versions(settings, uri, deadline)
    result = "error" if isinstance(listed, ArtifactError) else "ok"
    metrics.S3_LISTINGS.labels(result=result).inc()
    metrics.S3_LISTING_DURATION.labels(result=result).observe(time.perf_counter() - started)
    return listed


async def apply_plan(
    op: Operator, body: Mapping[str, Any], observed: Observation, plan: Plan, logger: Logger
) -> float:
    """Serving's objects (skipped when unchanged), the route's weights between its Services
    and its Deployments, the deletions, then the one status patch and the Events. Objects go
    in that order (traffic moves before pods go), except when every Deployment is new: no
    traffic to move yet, so all are applied at once and the pods need not wait for the
    Services' round trips. Returns the seconds the status patch was put off (0: written);
    a pass must come by then."""
    owner = observed.owner
    namespace = owner.namespace
    seen = (observed.deployment, observed.canary_deployment, *observed.services.values())
    current = {_key(o): o for o in seen if o is not None}
    first = plan.route_patch is None and not any(_key(o) in current for o in plan.workloads)
    if first:
        await apply_objects(op, body, [*plan.services, *plan.workloads], current, logger)
    else:
        for obj in plan.services:
            await apply_object(op, body, obj, current, logger)
        if plan.route_patch is not None:
            await op.in_thread(
                op.kube.json_patch,
                HTTPROUTE_API_VERSION,
                HTTPROUTE_KIND,
                namespace,
                plan.route_patch.name,
                plan.route_patch.operations,
            )
            logger.info(
                f"{namespace}/{owner.name}: HTTPRoute {plan.route_patch.name}: weights "
                f"{plan.status.get('rollout', {}).get('httpRoute')}"
            )
        for obj in plan.workloads:
            await apply_object(op, body, obj, current, logger)
    for gone in plan.deletions:
        await op.in_thread(op.kube.delete, gone.api_version, gone.kind, namespace, gone.name)
        op.cache.deleted(gone.kind, namespace, gone.name)
    key = (namespace, owner.name)

    async def write_status(patch: Mapping[str, Any]) -> None:
        updated = await op.in_thread(op.kube.patch_status, namespace, owner.name, patch)
        op.status_written[key] = time.monotonic()
        op.cache.wrote(body, updated)

    # The status and the Events at once: the Events are best effort and each its own object,
    # and a pass that ends a round trip sooner frees its slot sooner.
    writes = []
    if plan.status_patch:
        progress_only = only_progress(observed.status, plan.status_patch)
        if wait := op.status_write_wait(key, progress_only, time.monotonic()):
            return wait  # its Events (if any) come again from the pass that writes it
        writes.append(write_status(plan.status_patch))
    for event in plan.events:
        write = logger.warning if event.type == "Warning" else logger.info
        write(f"{namespace}/{owner.name}: {event.reason}: {event.message}")
        writes.append(post_event(op, body, event, logger))
    await asyncio.gather(*writes)
    return 0.0


async def apply_objects(
    op: Operator,
    body: Mapping[str, Any],
    objects: Sequence[Mapping[str, Any]],
    current: Mapping[tuple[str, str, str, str], Mapping[str, Any]],
    logger: Logger,
) -> None:
    """Applies the objects concurrently; every apply ends before the first failure is
    raised (each refusal is reported in status by its own apply)."""
    results = await asyncio.gather(
        *(apply_object(op, body, obj, current, logger) for obj in objects),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


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
