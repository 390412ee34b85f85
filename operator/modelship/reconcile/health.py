"""How the serving pods are really doing, read from the pods themselves (and the
Deployment's own conditions): how many run and are ready per version, and the named problems
that keep them from serving, each a reason and a sentence naming the pod.

A pod that is starting, pulling or loading is not a problem: it shows only as fewer ready
replicas, and the status calls that Reconciling.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from modelship.api.reasons import (
    CRASH_LOOP_BACK_OFF as CRASH_LOOP,
)
from modelship.api.reasons import (
    CREATE_CONTAINER_CONFIG_ERROR,
    CREATE_CONTAINER_ERROR,
    ERR_IMAGE_NEVER_PULL,
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACK_OFF,
    INIT_CONTAINER_FAILED,
    INVALID_IMAGE_NAME,
    OOM_KILLED,
    PROGRESS_DEADLINE_EXCEEDED,
    REPLICA_FAILURE,
    RUN_CONTAINER_ERROR,
    UNSCHEDULABLE,
)
from modelship.api.timestamps import parse_timestamp
from modelship.artifacts.errors import STORAGE_UNAVAILABLE
from modelship.reconcile.findings import Finding
from modelship.reconcile.owner import ANNOTATION_DIGEST, LABEL_VERSION

DEFAULT_PROGRESS_DEADLINE: Final = 600  # seconds; the Deployment API's own default
# Waiting reasons the kubelet gives when a container cannot even be created; each needs a
# person (a missing Secret or key, a bad image name...), and the kubelet's message says which.
_CANNOT_START: Final = frozenset(
    {
        CREATE_CONTAINER_CONFIG_ERROR,
        CREATE_CONTAINER_ERROR,
        INVALID_IMAGE_NAME,
        ERR_IMAGE_NEVER_PULL,
        RUN_CONTAINER_ERROR,
    }
)
# What `modelship pull` writes to its termination log: "<Reason>: <sentence>" (a leading
# "error: " comes with it when the message falls back to the container's log).
_REASON_LINE: Final = re.compile(r"^(?:error:\s*)?([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+):\s*(\S.*)$")
_DETAIL_LIMIT: Final = 300


@dataclass(frozen=True)
class ServingHealth:
    """The serving pods as observed; see `assess_serving`."""

    deployment_found: bool
    wanted_replicas: int
    """`spec.replicas` of the Deployment as observed (0 without one)."""
    deployment_current: bool
    """The Deployment's pods are of its latest spec: the Deployment controller has seen it,
    or it never changed."""
    template_version: int | None
    template_digest: str | None
    target_version: int | None
    replicas: int
    """Pods that are not terminating and have not finished."""
    ready_replicas: int
    pods_by_version: Mapping[int, int] = field(default_factory=dict)
    ready_by_version: Mapping[int, int] = field(default_factory=dict)
    digests: Mapping[int, str] = field(default_factory=dict)
    """The digest annotation of each version's pods."""
    problems: tuple[Finding, ...] = ()
    """Most relevant first: the target version's pods, then the others, then the Deployment."""

    @property
    def serving_versions(self) -> tuple[int, ...]:
        """Versions with at least one ready pod, i.e. in the Service's endpoints."""
        return tuple(sorted(v for v, n in self.ready_by_version.items() if n > 0))

    @property
    def rolled_out(self) -> bool:
        """Every pod runs the target version from the Deployment's current template, and as
        many are ready as the Deployment wants."""
        target = self.target_version
        return (
            target is not None
            and self.deployment_found
            and self.deployment_current
            and self.template_version == target
            and set(self.pods_by_version) <= {target}
            and sum(self.pods_by_version.values()) == self.replicas
            and self.ready_by_version.get(target, 0) >= self.wanted_replicas
        )


def assess_serving(
    deployment: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    target_version: int | None,
    now: datetime,
) -> ServingHealth:
    """Read the serving Deployment (None when absent) and its pods (listed with the serving
    selector labels) into counts and named problems. `now` (timezone-aware) decides whether a
    pod has waited for a node longer than the Deployment's progress deadline."""
    deployment = deployment or {}
    dep_spec = deployment.get("spec") or {}
    dep_status = deployment.get("status") or {}
    template = (dep_spec.get("template") or {}).get("metadata") or {}
    deadline = int(dep_spec.get("progressDeadlineSeconds") or DEFAULT_PROGRESS_DEADLINE)
    generation = (deployment.get("metadata") or {}).get("generation")
    # Current: the Deployment controller has acted on its latest spec, so its pods are of
    # that template. A spec never changed (generation 1) has had no other template, so its
    # pods are of it already: the controller writes observedGeneration only after its pods
    # came up (its first status write, as it creates the ReplicaSet, leaves it out), and
    # waiting for it cost a new ModelDeployment one status write ("1 of 1 replicas are
    # ready", not Ready) and a watch round trip more on its way to Ready.
    current = bool(deployment) and (
        generation is None
        or int(generation) == 1
        or int(dep_status.get("observedGeneration") or 0) >= int(generation)
    )
    conditions = {c.get("type"): c for c in dep_status.get("conditions") or []} if current else {}
    deadline_exceeded = _is(conditions.get("Progressing"), "False", PROGRESS_DEADLINE_EXCEEDED)

    pods_by_version: dict[int, int] = {}
    ready_by_version: dict[int, int] = {}
    digests: dict[int, str] = {}
    replicas = ready = 0
    target_problems: list[Finding] = []
    other_problems: list[Finding] = []
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", ""))):
        metadata = pod.get("metadata") or {}
        if metadata.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in (
            "Succeeded",
            "Failed",
        ):
            continue  # leaving: no longer in the Service's endpoints, nor counted as a replica
        replicas += 1
        version = _int((metadata.get("labels") or {}).get(LABEL_VERSION))
        pod_ready = _pod_ready(pod)
        ready += pod_ready
        if version is not None:
            pods_by_version[version] = pods_by_version.get(version, 0) + 1
            ready_by_version[version] = ready_by_version.get(version, 0) + pod_ready
            digest = (metadata.get("annotations") or {}).get(ANNOTATION_DIGEST)
            if digest:
                digests.setdefault(version, digest)
        problem = _pod_problem(pod, version, now, deadline, deadline_exceeded)
        if problem is not None:
            problem = dataclasses.replace(problem, version=version)
            (target_problems if version == target_version else other_problems).append(problem)

    template_version = _int((template.get("labels") or {}).get(LABEL_VERSION))
    deployment_problems = _deployment_problems(
        conditions, template_version, deadline, no_pod_problem=not target_problems
    )
    return ServingHealth(
        deployment_found=bool(deployment),
        wanted_replicas=_replicas(dep_spec) if deployment else 0,
        deployment_current=current,
        template_version=template_version,
        template_digest=(template.get("annotations") or {}).get(ANNOTATION_DIGEST),
        target_version=target_version,
        replicas=replicas,
        ready_replicas=ready,
        pods_by_version=pods_by_version,
        ready_by_version=ready_by_version,
        digests=digests,
        problems=(*target_problems, *other_problems, *deployment_problems),
    )


def _deployment_problems(
    conditions: Mapping[str, Mapping[str, Any]],
    template_version: int | None,
    deadline: int,
    *,
    no_pod_problem: bool,
) -> list[Finding]:
    problems = []
    of_version = f" of version {template_version}" if template_version is not None else ""
    failure = conditions.get(REPLICA_FAILURE)  # the Deployment condition's type
    if failure is not None and failure.get("status") == "True":
        # Pods refused at admission never exist, so only the Deployment tells: quota, Pod
        # Security, a webhook...
        problems.append(
            Finding(
                str(failure.get("reason") or REPLICA_FAILURE),
                f"pods{of_version} cannot be created: {failure.get('message', '')}".rstrip(": "),
                version=template_version,
            )
        )
    progressing = conditions.get("Progressing")
    if no_pod_problem and _is(progressing, "False", PROGRESS_DEADLINE_EXCEEDED):
        # A pod's own problem names the cause better; this is for the rest (slow loads...).
        assert progressing is not None
        problems.append(
            Finding(
                PROGRESS_DEADLINE_EXCEEDED,
                f"the rollout{of_version} made no progress within its deadline of {deadline}s "
                f"({progressing.get('message', 'no message')}); check its pods with "
                "`kubectl describe pod` or raise spec.serving.progressDeadline.",
                version=template_version,
            )
        )
    return problems


def _pod_problem(
    pod: Mapping[str, Any],
    version: int | None,
    now: datetime,
    deadline: int,
    deadline_exceeded: bool,
) -> Finding | None:
    """The first of the named checks that finds something wrong with one pod."""
    for check in _POD_CHECKS:
        found = check(_PodView(pod, version, now, deadline, deadline_exceeded))
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class _PodView:
    pod: Mapping[str, Any]
    version: int | None
    now: datetime
    deadline: int
    deadline_exceeded: bool

    @property
    def name(self) -> str:
        return str((self.pod.get("metadata") or {}).get("name", "?"))

    @property
    def namespace(self) -> str:
        return str((self.pod.get("metadata") or {}).get("namespace", "default"))

    @property
    def label(self) -> str:
        of_version = f" (version {self.version})" if self.version is not None else ""
        return f"pod {self.name}{of_version}"

    def statuses(self, kind: str) -> list[Mapping[str, Any]]:
        return list((self.pod.get("status") or {}).get(kind) or [])

    def memory_limit(self, container: str) -> str | None:
        for c in (self.pod.get("spec") or {}).get("containers") or []:
            if c.get("name") == container:
                limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
                return str(limit) if limit is not None else None
        return None


def _unschedulable(view: _PodView) -> Finding | None:
    scheduled = next(
        (
            c
            for c in (view.pod.get("status") or {}).get("conditions") or []
            if c.get("type") == "PodScheduled"
        ),
        None,
    )
    if not _is(scheduled, "False", UNSCHEDULABLE):
        return None
    assert scheduled is not None
    since = parse_timestamp(scheduled.get("lastTransitionTime")) or parse_timestamp(
        (view.pod.get("metadata") or {}).get("creationTimestamp")
    )
    waited_too_long = view.deadline_exceeded or (
        since is not None and (view.now - since).total_seconds() >= view.deadline
    )
    scheduler_says = str(scheduled.get("message") or "no node fits it").rstrip(".")
    if waited_too_long:
        advice = (
            f"it has waited longer than the progress deadline ({view.deadline}s): free or add "
            "capacity, or change spec.serving (gpu, resources, nodeSelector, tolerations)."
        )
    else:
        advice = "waiting for capacity (a node being added or freed)."
    return Finding(
        UNSCHEDULABLE,
        f"{view.label} cannot be scheduled: {scheduler_says}; {advice}",
        needs_person=waited_too_long,
    )


def _init_container_failed(view: _PodView) -> Finding | None:
    for status in view.statuses("initContainerStatuses"):
        found = _cannot_start(view, status, "init container")
        if found is not None:
            return found
        state = status.get("state") or {}
        terminated = state.get("terminated")
        if not (terminated and (terminated.get("exitCode") or 0) != 0):
            terminated = (status.get("lastState") or {}).get("terminated")
            if not (state.get("waiting") and terminated and (terminated.get("exitCode") or 0) != 0):
                continue
        name = status.get("name", "?")
        text = str(terminated.get("message") or "").strip()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        match = _REASON_LINE.match(lines[0]) if lines else None
        if match:
            reason, sentence = match.group(1), _short(match.group(2))
            return Finding(
                reason,
                f"init container {name} of {view.label} failed: {reason}: {sentence}",
                needs_person=reason != STORAGE_UNAVAILABLE,
            )
        detail = f": {_short(lines[-1])}" if lines else ""
        return Finding(
            INIT_CONTAINER_FAILED,
            f"init container {name} of {view.label} failed with exit code "
            f"{terminated.get('exitCode')}{detail}; see `kubectl logs -n {view.namespace} "
            f"{view.name} -c {name}`.",
        )
    return None


def _container_failed(view: _PodView) -> Finding | None:
    for status in view.statuses("containerStatuses"):
        found = _cannot_start(view, status, "container")
        if found is not None:
            return found
        name = str(status.get("name", "?"))
        state = status.get("state") or {}
        waiting = state.get("waiting") or {}
        last = (status.get("lastState") or {}).get("terminated") or {}
        restarts = int(status.get("restartCount") or 0)
        if (state.get("terminated") or {}).get("reason") == OOM_KILLED or (
            waiting.get("reason") == CRASH_LOOP and last.get("reason") == OOM_KILLED
        ):
            limit = view.memory_limit(name)
            of_limit = f" ({limit})" if limit else ""
            return Finding(
                OOM_KILLED,
                f"container {name} of {view.label} was killed for using more memory than its "
                f"limit{of_limit} and restarted {restarts} times; raise "
                "spec.serving.resources.limits.memory or serve a smaller model.",
            )
        if waiting.get("reason") == CRASH_LOOP:
            how = f"last exit code {last.get('exitCode', '?')}"
            if last.get("reason"):
                how += f" ({last['reason']})"
            lines = [x.strip() for x in str(last.get("message") or "").splitlines() if x.strip()]
            said = f", last message: {_short(lines[-1])}" if lines else ""
            return Finding(
                CRASH_LOOP,
                f"container {name} of {view.label} keeps crashing: restarted {restarts} times, "
                f"{how}{said}; see `kubectl logs -n {view.namespace} {view.name} -c {name} "
                "--previous`.",
            )
    return None


def _cannot_start(view: _PodView, status: Mapping[str, Any], kind: str) -> Finding | None:
    """Image pull errors and the kubelet's refusals to create a container."""
    waiting = (status.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    name = status.get("name", "?")
    detail = f": {_short(str(waiting['message']))}" if waiting.get("message") else ""
    if reason in (IMAGE_PULL_BACK_OFF, ERR_IMAGE_PULL):
        return Finding(
            reason,
            f"{view.label} cannot pull image {status.get('image', '?')} for {kind} {name}"
            f"{detail}; check spec.serving.image and the registry's pull secret.",
            # The first failure may be a registry hiccup; the back-off means it persists.
            needs_person=reason == IMAGE_PULL_BACK_OFF,
        )
    if reason in _CANNOT_START:
        return Finding(reason, f"{kind} {name} of {view.label} cannot start{detail}.")
    return None


_POD_CHECKS: Final[tuple[Callable[[_PodView], Finding | None], ...]] = (
    _unschedulable,
    _init_container_failed,
    _container_failed,
)


def _replicas(deployment_spec: Mapping[str, Any]) -> int:
    replicas = deployment_spec.get("replicas")
    return 1 if replicas is None else int(replicas)  # the Deployment API's default


def _pod_ready(pod: Mapping[str, Any]) -> int:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return int(condition.get("status") == "True")
    return 0


def _is(condition: Mapping[str, Any] | None, status: str, reason: str) -> bool:
    return (
        condition is not None
        and condition.get("status") == status
        and condition.get("reason") == reason
    )


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"
