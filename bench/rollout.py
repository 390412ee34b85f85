# ruff: noqa: E402  (the sys.path fix below must run before any other import)
"""What a version change costs with each rollout strategy, in time and in GPUs held.

    python -P bench/rollout.py [--replicas 4] [--runs 2]

It starts its own simulated cluster (kwokctl: real control plane, scheduler and controllers,
kwok nodes and pods; 4 GPU nodes of 8 GPUs), the CRD, its own S3 server and
`python -m modelship run --namespace bench`, all on 127.0.0.1, and tears all of it down at the
end. Each measurement uses a ModelDeployment of its own (--replicas pods of 1 GPU each, its
own model prefix): Ready on version 1, then version 2 is published. A sampler lists the
resource's pods, its Deployments, its Service and the ModelDeployment every 0.2 s. Printed:

(a) time from version 2 published to all traffic on it (every Ready pod the Service selects
    runs version 2) and to the old version's pods gone, for RollingUpdate, Canary (steps 25 %
    and 50 %, 1 s pauses) and BlueGreen (scaleDownDelay 1s; this script promotes it as soon
    as it waits for promotion); also from the operator's first write of version 2 (the
    published -> noticed part is the store's poll, 5 s here);
(b) GPUs held (requests of `nvidia.com/gpu` of pods bound to a node and not finished,
    terminating ones included): the peak against replicas x 1 GPU, for each of them and for
    gpuBudget Fixed against Surge, both in the 0.2 s samples and after every pod change a
    watch of the same pods reports (kwok is quick enough that a surge pod can live less than
    a tick);
(c) a failing canary (Canary, one step of 50 % waiting for promotion): aborted by the
    `modelship.io/abort` annotation, or its image turned into the test bed's crash-looping one;
    time until every replica is back on version 1 and no pod of version 2 is left;
(d) the physical baseline: a plain Deployment with the pod template of the serving Deployment
    (the same rolling-update settings, maxSurge 1, maxUnavailable 0), its version label changed
    -> all its Ready pods the new ones and the old ones gone. Ratios are against it.

kwok pods are Ready the moment they are bound: these figures are the control loops' own time
(operator, Deployment controller, scheduler, kwok), not image pulls or model loading, which a
real node adds to every strategy alike. They share the machine's CPUs with the whole cluster.
"""

from __future__ import annotations

import os
import sys

# Run as `python bench/rollout.py`, this folder heads sys.path; the checkout's root takes its
# place, so `tests.models` and `bench.controller` can be imported.
sys.path[:] = [
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    *(
        entry
        for entry in sys.path
        if os.path.abspath(entry or os.curdir) != os.path.dirname(os.path.abspath(__file__))
    ),
]

import argparse
import copy
import json
import platform
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench.controller import (
    BUCKET,
    NAMESPACE,
    SECRET,
    BenchError,
    OperatorProcess,
    bench_cluster,
    progress,
)

import modelship
from modelship.api import GROUP, KIND, PLURAL, VERSION
from modelship.artifacts import ArtifactStore, parse_storage_uri
from modelship.dev.binaries import TestbedError, ensure_built
from modelship.dev.cluster import KWOK_VERSION, Cluster
from modelship.dev.s3 import S3Server
from modelship.dev.simulation import CRASHLOOP_IMAGE

GPU = "nvidia.com/gpu"
LABEL_VERSION = "modelship.io/version"
PLAIN_LABEL = "bench/plain"
SAMPLE_SECONDS = 0.2
POLL = "5s"
"""spec.storage.pollInterval: the shortest the CRD allows, so noticing a version is quick."""
STEPS = [{"weight": 25, "pause": "1s"}, {"weight": 50, "pause": "1s"}]


# -- sampling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float
    gpus: int
    """GPU requests of pods bound to a node and not finished (terminating ones hold theirs)."""
    routed: tuple[int, ...]
    """Versions of the Ready, not terminating pods the Service selects."""
    present: frozenset[int]
    """Versions of every pod that exists, terminating ones included."""
    new_written: bool
    """A Deployment of the resource with replicas wants the new version's pods."""
    phase: str | None
    ready_on: int | None
    """status.currentVersion while the Ready condition is True."""


def _version(labels: dict[str, str] | None) -> int | None:
    value = (labels or {}).get(LABEL_VERSION)
    return int(value) if value and value.isdigit() else None


def _pod_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _gpus_held(pod: Any) -> int:
    """A pod's GPUs while it is bound to a node and not finished (terminating or not)."""
    if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed"):
        return 0
    held = 0
    for container in pod.spec.containers:
        requests = (container.resources and container.resources.requests) or {}
        held += int(requests.get(GPU, 0))
    return held


class GpuWatch(threading.Thread):
    """Watches the same pods and sums their GPUs after every change the API server reports,
    in its order: a pod that lives shorter than a sampling tick still counts."""

    def __init__(self, api_client: Any, selector: str) -> None:
        super().__init__(name=f"gpus-{selector}", daemon=True)
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.selector = selector
        self.totals: list[tuple[float, int]] = []
        self._held: dict[str, int] = {}
        self._stopping = threading.Event()

    def run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        resource_version: str | None = None
        while not self._stopping.is_set():
            kwargs: dict[str, Any] = {"label_selector": self.selector, "timeout_seconds": 2}
            if resource_version:
                kwargs["resource_version"] = resource_version
            try:
                for event in watch.Watch().stream(
                    self.core.list_namespaced_pod, NAMESPACE, **kwargs
                ):
                    pod = event["object"]
                    resource_version = pod.metadata.resource_version
                    if event["type"] == "DELETED":
                        self._held.pop(pod.metadata.name, None)
                    else:
                        self._held[pod.metadata.name] = _gpus_held(pod)
                    self.totals.append((time.monotonic(), sum(self._held.values())))
                    if self._stopping.is_set():
                        break
            except ApiException as error:
                if error.status == 410:  # too old: list again from now
                    resource_version = None
                time.sleep(0.1)
            except Exception:  # a dropped connection: resume from the last version seen
                time.sleep(0.1)

    def peak_since(self, moment: float) -> int:
        before = [total for at, total in self.totals if at < moment][-1:]
        return max([*before, *(total for at, total in self.totals if at >= moment)], default=0)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)


class Sampler(threading.Thread):
    """Lists one resource's pods (and Deployments, Service, ModelDeployment) every
    SAMPLE_SECONDS until stopped; `samples` is the timeline."""

    def __init__(self, api_client: Any, target: Target, new_version: int) -> None:
        super().__init__(name=f"sample-{target.name}", daemon=True)
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.target = target
        self.new = new_version
        self.samples: list[Sample] = []
        self.gpu_watch = GpuWatch(api_client, target.pod_selector)
        self.error: str | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.samples.append(self._take())
            except Exception as error:  # a slow or dropped request: the next tick tries again
                self.error = f"{type(error).__name__}: {error}"
            self._stopping.wait(max(0.0, SAMPLE_SECONDS - (time.monotonic() - started)))

    def _take(self) -> Sample:
        t = self.target
        pods = self.core.list_namespaced_pod(NAMESPACE, label_selector=t.pod_selector).items
        phase = ready_on = None
        if t.plain:
            selector = {PLAIN_LABEL: t.name}
            deployments = [self.apps.read_namespaced_deployment(t.name, NAMESPACE)]
        else:
            selector = self.core.read_namespaced_service(t.name, NAMESPACE).spec.selector or {}
            md = self.custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, t.name)
            status = md.get("status") or {}
            phase = (status.get("rollout") or {}).get("phase")
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            ready_on = status.get("currentVersion") if ready else None
            names = {f"{t.name}-serving", f"{t.name}-canary"}
            deployments = [
                d
                for d in self.apps.list_namespaced_deployment(NAMESPACE).items
                if d.metadata.name in names
            ]
        new_written = any(
            (d.spec.replicas or 0) > 0 and _version(d.spec.template.metadata.labels) == self.new
            for d in deployments
        )
        gpus = 0
        routed: list[int] = []
        present: set[int] = set()
        for pod in pods:
            labels = pod.metadata.labels or {}
            number = _version(labels)
            if number is not None:
                present.add(number)
            gpus += _gpus_held(pod)
            selected = all(labels.get(k) == v for k, v in selector.items())
            if selected and _pod_ready(pod) and not pod.metadata.deletion_timestamp:
                routed.append(number if number is not None else -1)
        return Sample(
            time.monotonic(),
            gpus,
            tuple(routed),
            frozenset(present),
            new_written,
            phase,
            ready_on,
        )

    def start(self) -> None:
        self.gpu_watch.start()
        super().start()

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)
        self.gpu_watch.stop()


@dataclass(frozen=True)
class Target:
    name: str
    plain: bool = False

    @property
    def pod_selector(self) -> str:
        if self.plain:
            return f"{PLAIN_LABEL}={self.name}"
        return f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component=serving"


def first(samples: list[Sample], after: float, check: Callable[[Sample], bool]) -> float | None:
    return next((s.at for s in samples if s.at >= after and check(s)), None)


# -- figures ----------------------------------------------------------------------------------


@dataclass
class Rollout:
    """One version change, in seconds from its start (publish, or the template change)."""

    written: float
    traffic: float
    old_gone: float
    peak_gpus: int
    """In the 0.2 s samples."""
    watched_gpus: int
    """After any change of any pod, from the watch."""
    promoted_by_bench: float | None = None


@dataclass
class Failure:
    detected: float
    back: float
    peak_gpus: int
    watched_gpus: int


@dataclass
class Figures:
    rollouts: dict[str, list[Rollout]] = field(default_factory=dict)
    failures: dict[str, list[Failure]] = field(default_factory=dict)


# -- the world --------------------------------------------------------------------------------


@dataclass
class World:
    cluster: Cluster
    s3: S3Server
    api_client: Any
    operator: OperatorProcess
    replicas: int
    timeout: float
    template: dict[str, Any] = field(default_factory=dict)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def publish(self, name: str) -> int:
        from tests.models import write_tiny_saved_model

        with tempfile.TemporaryDirectory(prefix="bench-rollout-") as folder:
            model = write_tiny_saved_model(Path(folder) / "tiny")
            store = ArtifactStore(self.s3.client(), parse_storage_uri(self.uri(name)))
            return store.push(model).number

    def uri(self, name: str) -> str:
        return f"s3://{BUCKET}/models/{name}"

    def model_deployment(self, name: str, rollout: dict[str, Any] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "model": {"storageUri": self.uri(name)},
            "storage": {
                "endpoint": self.s3.endpoint,
                "secretRef": {"name": SECRET},
                "pollInterval": POLL,
            },
            # The operator adds the GPU nodes' toleration to a pod that asks for a GPU.
            "serving": {"replicas": self.replicas, "gpu": {"count": 1}},
        }
        if rollout:
            spec["rollout"] = rollout
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name},
            "spec": spec,
        }

    def wait(self, sampler: Sampler, check: Callable[[Sample], bool], what: str) -> float:
        deadline = time.monotonic() + self.timeout
        while True:
            latest = sampler.latest()
            if latest is not None and check(latest):
                return latest.at
            self.operator.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{sampler.target.name}: no {what} after {self.timeout:.0f}s; last sample "
                    f"{latest}; sampler error: {sampler.error}\n"
                    f"operator log:\n{self.operator.log_tail()}"
                )
            time.sleep(SAMPLE_SECONDS / 2)

    def annotate(self, name: str, key: str) -> None:
        patch = {"metadata": {"annotations": {key: str(time.time_ns())}}}
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name, patch)

    @contextmanager
    def ready_on_one(
        self, name: str, rollout: dict[str, Any] | None
    ) -> Iterator[tuple[Sampler, int]]:
        """The ModelDeployment Ready on version 1 with a sampler for version 2 running;
        yields both, deletes the ModelDeployment and waits for its pods to go afterwards."""
        self.publish(name)
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, self.model_deployment(name, rollout)
        )
        sampler = Sampler(self.api_client, Target(name), 2)
        sampler.start()
        try:
            self.wait(
                sampler,
                lambda s: s.ready_on == 1 and len(s.routed) == self.replicas,
                "Ready on version 1",
            )
            yield sampler, 2
        finally:
            sampler.stop()
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
            self.wait_no_pods(Target(name).pod_selector)

    def wait_no_pods(self, selector: str) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.api_client)
        deadline = time.monotonic() + self.timeout
        while core.list_namespaced_pod(NAMESPACE, label_selector=selector).items:
            if time.monotonic() > deadline:
                raise BenchError(f"pods of {selector} left {self.timeout:.0f}s after deleting")
            time.sleep(0.5)

    def version_change(self, name: str, rollout: dict[str, Any] | None) -> Rollout:
        """Version 2 published -> all traffic on it, old pods gone, Ready and promoted."""
        with self.ready_on_one(name, rollout) as (sampler, new):
            started = time.monotonic()
            self.publish(name)
            promoted_at: float | None = None
            blue_green = (rollout or {}).get("strategy") == "BlueGreen"

            def done(s: Sample) -> bool:
                nonlocal promoted_at
                if blue_green and promoted_at is None and s.phase == "Paused":
                    # What a person (or a pipeline) does: promote the preview once it is Ready.
                    self.annotate(name, "modelship.io/promote")
                    promoted_at = time.monotonic()
                return (
                    s.ready_on == new
                    and s.present == {new}
                    and len(s.routed) == self.replicas
                    and s.phase in (None, "Promoted")
                )

            self.wait(sampler, done, f"version {new} promoted with the old pods gone")
            return self.timeline(sampler, started, new, promoted_at)

    def timeline(
        self, sampler: Sampler, started: float, new: int, promoted_at: float | None = None
    ) -> Rollout:
        samples = [s for s in sampler.samples if s.at >= started]
        written = first(samples, started, lambda s: s.new_written)
        traffic = first(samples, started, lambda s: bool(s.routed) and set(s.routed) == {new})
        gone = first(samples, traffic or started, lambda s: new - 1 not in s.present)
        if written is None or traffic is None or gone is None:
            raise BenchError(f"{sampler.target.name}: the timeline misses a moment: {samples}")
        return Rollout(
            written - started,
            traffic - started,
            gone - started,
            max(s.gpus for s in samples),
            sampler.gpu_watch.peak_since(started),
            None if promoted_at is None else promoted_at - started,
        )

    def failing_canary(self, name: str, how: str) -> Failure:
        rollout = {"strategy": "Canary", "steps": [{"weight": 50}], "gpuBudget": "Fixed"}
        with self.ready_on_one(name, rollout) as (sampler, new):
            self.publish(name)
            self.wait(
                sampler,
                lambda s: s.phase == "Paused" and new in s.routed,
                f"the canary of version {new} paused at 50 %",
            )
            if how == "abort":
                self.annotate(name, "modelship.io/abort")
            else:
                # The test bed crashes a pod by its image, as a model that fails to load would.
                patch = json.dumps(
                    [
                        {
                            "op": "replace",
                            "path": "/spec/template/spec/containers/0/image",
                            "value": CRASHLOOP_IMAGE,
                        }
                    ]
                )
                self.cluster.kubectl(
                    "patch",
                    "deployment",
                    f"{name}-canary",
                    "-n",
                    NAMESPACE,
                    "--type=json",
                    "-p",
                    patch,
                )
            started = time.monotonic()
            self.wait(
                sampler,
                lambda s: (
                    s.phase in ("RolledBack", "Aborted")
                    and s.present == {new - 1}
                    and s.routed == (new - 1,) * self.replicas
                ),
                f"every replica back on version {new - 1}",
            )
            samples = [s for s in sampler.samples if s.at >= started]
            detected = first(samples, started, lambda s: s.phase in ("RolledBack", "Aborted"))
            back = first(
                samples,
                started,
                lambda s: s.present == {new - 1} and s.routed == (new - 1,) * self.replicas,
            )
            assert detected is not None and back is not None
            return Failure(
                detected - started,
                back - started,
                max(s.gpus for s in samples),
                sampler.gpu_watch.peak_since(started),
            )

    def capture_template(self) -> None:
        """The serving Deployment's spec of a ModelDeployment with GPUs, for the plain one."""
        from kubernetes import client

        with self.ready_on_one("template", None):
            served = self.api_client.sanitize_for_serialization(
                client.AppsV1Api(self.api_client).read_namespaced_deployment(
                    "template-serving", NAMESPACE
                )
            )
        self.template = served["spec"]

    def plain_change(self, name: str) -> Rollout:
        from kubernetes import client

        apps = client.AppsV1Api(self.api_client)
        spec = copy.deepcopy(self.template)
        labels = {PLAIN_LABEL: name, LABEL_VERSION: "1"}
        spec["replicas"] = self.replicas
        spec["selector"] = {"matchLabels": {PLAIN_LABEL: name}}
        spec["template"]["metadata"]["labels"] = labels
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}}
        apps.create_namespaced_deployment(NAMESPACE, {**body, "spec": spec})
        sampler = Sampler(self.api_client, Target(name, plain=True), 2)
        sampler.start()
        try:
            self.wait(
                sampler, lambda s: s.routed == (1,) * self.replicas, "all pods Ready on label 1"
            )
            started = time.monotonic()
            patch = {"spec": {"template": {"metadata": {"labels": {LABEL_VERSION: "2"}}}}}
            apps.patch_namespaced_deployment(name, NAMESPACE, patch)
            self.wait(
                sampler,
                lambda s: s.present == {2} and s.routed == (2,) * self.replicas,
                "every pod on label 2 and the old ones gone",
            )
            return self.timeline(sampler, started, 2)
        finally:
            sampler.stop()
            apps.delete_namespaced_deployment(name, NAMESPACE)
            self.wait_no_pods(Target(name, plain=True).pod_selector)


@contextmanager
def world(tmp: Path, replicas: int, timeout: float) -> Iterator[World]:
    operator: OperatorProcess | None = None
    with bench_cluster("bench-ro", tmp) as (cluster, s3, api_client):
        try:
            progress("starting the operator")
            operator = OperatorProcess.start(cluster.kubeconfig, tmp / "operator.log")
            yield World(cluster, s3, api_client, operator, replicas, timeout)
        finally:
            progress("cleaning up")
            if operator is not None:
                operator.stop()


# -- the measurements and the report ----------------------------------------------------------

STRATEGIES: dict[str, dict[str, Any] | None] = {
    "RollingUpdate (maxSurge 1)": None,
    "Canary 25/50, Fixed": {"strategy": "Canary", "steps": STEPS, "gpuBudget": "Fixed"},
    "Canary 25/50, Surge": {"strategy": "Canary", "steps": STEPS, "gpuBudget": "Surge"},
    "BlueGreen": {"strategy": "BlueGreen", "scaleDownDelay": "1s"},
}
PLAIN = "plain Deployment (baseline)"
FAILURES = {"abort": "aborted by annotation", "crashloop": "canary crash-looping"}


def measure(w: World, figures: Figures, runs: int) -> None:
    progress("warm-up: the serving Deployment's template for the plain one")
    w.capture_template()
    labels = [*STRATEGIES, PLAIN]
    for run in range(runs):
        # Each run goes through the strategies in the other order, so none always goes first.
        for index, label in enumerate(labels if run % 2 == 0 else labels[::-1]):
            name = f"r{run}-{index}"
            progress(f"run {run + 1}/{runs}: {label}")
            if label == PLAIN:
                result = w.plain_change(f"{name}-plain")
            else:
                result = w.version_change(name, STRATEGIES[label])
            figures.rollouts.setdefault(label, []).append(result)
        for how, label in FAILURES.items():
            progress(f"run {run + 1}/{runs}: failing canary, {label}")
            failure = w.failing_canary(f"f{run}-{how}", how)
            figures.failures.setdefault(label, []).append(failure)


def med(values: list[float]) -> float:
    return statistics.median(values)


def span(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{med(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def report(figures: Figures, replicas: int, runs: int) -> None:
    budget = replicas

    def gpus(sampled: int, watched: int) -> str:
        return f"{sampled}/{watched} = {sampled / budget:.2f}x/{watched / budget:.2f}x"

    plain = med([r.old_gone - r.written for r in figures.rollouts[PLAIN]])
    print(
        f"\n(a, b, d) version 1 -> 2, {replicas} replicas x 1 GPU (budget {budget} GPUs), "
        f"seconds from publishing, median (min-max) of {runs} runs"
    )
    print(
        f"  {'strategy':<28} {'-> written':>13} {'-> all traffic':>17} {'-> old gone':>17}"
        f" {'written -> gone':>16} {'/ plain':>8}  peak GPUs (sampled/watched = / budget)"
    )
    for label, results in figures.rollouts.items():
        after_write = [r.old_gone - r.written for r in results]
        ratio = f"{med(after_write) / plain:.1f}x" if plain > 0 else "-"
        print(
            f"  {label:<28} {span([r.written for r in results]):>13} "
            f"{span([r.traffic for r in results]):>17} {span([r.old_gone for r in results]):>17} "
            f"{span(after_write):>16} {ratio:>8}  "
            + gpus(max(r.peak_gpus for r in results), max(r.watched_gpus for r in results))
        )
        promoted = [r.promoted_by_bench for r in results if r.promoted_by_bench is not None]
        if promoted:
            print(f"  {'':<28} (promoted by this script {span(promoted)} s after publishing)")
    print(
        "  written: the first sample with a Deployment asking for the new version's pods (for "
        f"a ModelDeployment the store's poll, every {POLL}, comes first; for the plain "
        "Deployment, the moment of the template change). / plain: written -> gone against the "
        "plain Deployment's."
    )
    print(f"\n(c) a failing canary at 50 %, {replicas} replicas, seconds from the failure")
    print(
        f"  {'failure':<28} {'-> rolled back':>15} {'-> all on stable':>17}  "
        "peak GPUs (sampled/watched = / budget)"
    )
    for label, failures in figures.failures.items():
        print(
            f"  {label:<28} {span([f.detected for f in failures]):>15} "
            f"{span([f.back for f in failures]):>17}  "
            + gpus(max(f.peak_gpus for f in failures), max(f.watched_gpus for f in failures))
        )
    fixed = figures.rollouts["Canary 25/50, Fixed"]
    peak = max(max(r.peak_gpus, r.watched_gpus) for r in fixed)
    verdict = "kept" if peak <= budget else "EXCEEDED"
    print(f"\ngoal: peak GPUs of a Fixed rollout / budget = 1.0: {peak / budget:.2f} ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, default=4, help="pods of 1 GPU per rollout")
    parser.add_argument("--runs", type=int, default=2, help="runs of every measurement")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for a state")
    args = parser.parse_args()
    if not 2 <= args.replicas <= 16 or args.runs < 1:
        # BlueGreen holds twice the replicas: the simulated cluster has 32 GPUs.
        parser.error("--replicas must be 2 to 16 (BlueGreen needs 2x on 32 GPUs), --runs >= 1")

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    ensure_built(("kubernetes", "etcd", "kwok", "versitygw"))
    figures = Figures()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp,
            world(Path(tmp), args.replicas, args.timeout) as w,
        ):
            version = w.cluster.kubectl("version", "-o", "json").stdout
            server = json.loads(version).get("serverVersion", {}).get("gitVersion", "?")
            load = os.getloadavg()
            print(
                f"setup: {os.cpu_count()} CPUs ({platform.machine()}), load average "
                f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python {platform.python_version()}, "
                f"modelship {modelship.__version__}, Kubernetes {server} (kwokctl, kwok "
                f"{KWOK_VERSION}, pods Ready at once), versitygw S3, all on 127.0.0.1",
                flush=True,
            )
            print(
                f"       operator: `python -m modelship run --namespace {NAMESPACE}`; "
                f"pollInterval {POLL}; samples every {SAMPLE_SECONDS}s; "
                f"--replicas {args.replicas} --runs {args.runs}",
                flush=True,
            )
            measure(w, figures, args.runs)
            load = os.getloadavg()
            print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    except KeyboardInterrupt:
        print("error: interrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
    except (BenchError, TestbedError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    report(figures, args.replicas, args.runs)


if __name__ == "__main__":
    main()
