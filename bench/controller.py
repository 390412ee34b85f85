# ruff: noqa: E402  (the sys.path fix below must run before any other import)
"""What the operator costs on top of plain Kubernetes: time to Ready, API writes, memory.

    python bench/controller.py [--count 100] [--runs 3] [--idle-seconds 60]

It starts its own simulated cluster (kwokctl: real control plane, kwok nodes and pods) with the
CRD applied, its own S3 server with one tiny published version, and `modelship run` as a
process watching one namespace, all on 127.0.0.1. Then it prints:

(a) apply -> Ready of one ModelDeployment (1 replica, CPU only) against apply -> Available of a
    plain Deployment with the same pod template (copied from the serving Deployment the
    operator made, relabelled), medians over --runs alternating which goes first;
(b) the same for --count objects created at once: time until all are Ready / Available;
(c) Kubernetes API writes (PATCH/POST/PUT/DELETE in the operator's
    modelship_api_requests_total) per ModelDeployment to reach Ready, and per minute once idle
    over --idle-seconds; the idle requests as the API server itself counted them
    (apiserver_request_total, every verb but WATCH); Events and object changes;
(d) the operator process's resident memory (and CPU time) with --count ModelDeployments;
(e) a new version published to S3 -> all --count ModelDeployments Ready on it, against a pod
    template change of --count plain Deployments -> all of them rolled (goal: at most the poll
    interval plus twice the plain rollout).

Everything is torn down at the end, also on Ctrl-C or an error. The figures share the machine's
CPUs with the control plane, kwok, S3 and this script: read them as ratios within one run.
"""

from __future__ import annotations

import os
import sys

# Run as `python bench/controller.py`, this folder heads sys.path; the checkout's root takes
# its place, so `tests.models` can be imported. (The file was bench/operator.py, which shadowed
# the standard library's `operator` for every script in this folder.)
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
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from modelship.api import GROUP, KIND, PLURAL, VERSION
from modelship.artifacts import ArtifactStore, parse_storage_uri
from modelship.controller.settings import OperatorSettings
from modelship.dev.binaries import TestbedError, ensure_built
from modelship.dev.cluster import KWOK_VERSION, Cluster, kwok_workdir, wait_established
from modelship.dev.s3 import S3Server, free_port, wait_for_port
from modelship.dev.sandbox import crds_dir
from modelship.dev.simulation import default_nodes

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
SECRET = "s3-creds"
BUCKET = "bench"
MODEL_URI = f"s3://{BUCKET}/models/tiny"
WRITE_VERBS = ("PATCH", "POST", "PUT", "DELETE")
PLAIN_LABEL = "bench/plain"
POLL_SECONDS = 30.0
"""spec.storage.pollInterval's default, which the benchmark's ModelDeployments keep."""
SETTLE_SECONDS = 5.0
"""After all are Ready, the last status writes of the transition land before idle is measured."""


class BenchError(Exception):
    """The benchmark could not measure what it meant to (a timeout, a dead process)."""


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# -- readiness of the two kinds --------------------------------------------------------------


def condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions)


def model_deployment_ready(obj: Mapping[str, Any]) -> bool:
    """kstatus: the Ready condition is True for the current generation."""
    status = obj.get("status") or {}
    return status.get("observedGeneration") == obj["metadata"].get("generation") and condition_true(
        obj, "Ready"
    )


def deployment_available(obj: Mapping[str, Any]) -> bool:
    """What `kubectl rollout status` waits for: every wanted replica updated and available."""
    status = obj.get("status") or {}
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    return (
        status.get("observedGeneration", 0) >= obj["metadata"].get("generation", 1)
        and status.get("updatedReplicas", 0) >= wanted
        and status.get("availableReplicas", 0) >= wanted
        and condition_true(obj, "Available")
    )


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    ready: Callable[[Mapping[str, Any]], bool]


MODEL_DEPLOYMENTS = Kind(GROUP, VERSION, PLURAL, model_deployment_ready)
DEPLOYMENTS = Kind("apps", "v1", "deployments", deployment_available)


class ReadyWatch(threading.Thread):
    """Watches one kind in the namespace and notes when each object is first seen ready, and
    how often each object changed (every MODIFIED event is a write that changed it)."""

    def __init__(self, api_client: Any, kind: Kind) -> None:
        super().__init__(name=f"watch-{kind.plural}", daemon=True)
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api_client)
        self.kind = kind
        self.ready_at: dict[str, float] = {}
        self.changes: Counter[str] = Counter()
        self.latest: dict[str, Mapping[str, Any]] = {}
        self.goal: Callable[[Mapping[str, Any]], bool] | None = None
        self.goal_at: dict[str, float] = {}
        self.milestone: Callable[[Mapping[str, Any]], bool] | None = None
        self.milestone_at: dict[str, float] = {}
        """When each object first met `milestone`, a step on its way to the goal."""
        self.error: str | None = None
        self._stopping = threading.Event()
        self._seen = threading.Condition()

    def run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        resource_version: str | None = None
        while not self._stopping.is_set():
            stream = watch.Watch()
            kwargs: dict[str, Any] = {"timeout_seconds": 5, "allow_watch_bookmarks": True}
            if resource_version:
                kwargs["resource_version"] = resource_version
            try:
                for event in stream.stream(
                    self.custom.list_namespaced_custom_object,
                    self.kind.group,
                    self.kind.version,
                    NAMESPACE,
                    self.kind.plural,
                    **kwargs,
                ):
                    self._note(event["type"], event["raw_object"])
                    if self._stopping.is_set():
                        break
                resource_version = stream.resource_version
            except ApiException as error:
                if error.status == 410:  # too old: list again from now
                    resource_version = None
                else:
                    self.error = f"{error.status} {error.reason}"
                    time.sleep(1)
            except Exception as error:  # a dropped connection: resume from the last version
                self.error = f"{type(error).__name__}: {error}"
                time.sleep(1)

    def _note(self, event_type: str, obj: Mapping[str, Any]) -> None:
        if event_type not in ("ADDED", "MODIFIED"):
            return
        name = obj["metadata"]["name"]
        now = time.monotonic()
        with self._seen:
            if event_type == "MODIFIED":
                self.changes[name] += 1
            self.latest[name] = obj
            if name not in self.ready_at and self.kind.ready(obj):
                self.ready_at[name] = now
                self._seen.notify_all()
            if self.milestone and name not in self.milestone_at and self.milestone(obj):
                self.milestone_at[name] = now
            if self.goal is not None and name not in self.goal_at and self.goal(obj):
                self.goal_at[name] = now
                self._seen.notify_all()

    def wait_ready(self, names: Iterable[str], timeout: float) -> float:
        """Waits until every named object was seen ready; returns the last one's moment."""
        wanted = set(names)
        deadline = time.monotonic() + timeout
        with self._seen:
            while missing := wanted - self.ready_at.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(
                        f"{len(missing)} of {len(wanted)} {self.kind.plural} not ready after "
                        f"{timeout:.0f}s (e.g. {sorted(missing)[:3]}); watch error: {self.error}"
                    )
                self._seen.wait(min(left, 1.0))
            return max(self.ready_at[name] for name in wanted)

    def wait_goal(
        self,
        names: Iterable[str],
        goal: Callable[[Mapping[str, Any]], bool],
        timeout: float,
        milestone: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Callable[[], float]:
        """Starts noting when each named object first meets `goal` (objects already meeting
        it count from now), and `milestone` on its way; the returned call waits until all
        met the goal and returns the last moment."""
        wanted = set(names)
        with self._seen:
            self.goal, self.goal_at = goal, {}
            self.milestone, self.milestone_at = milestone, {}
            now = time.monotonic()
            for name in wanted:
                if name in self.latest and goal(self.latest[name]):
                    self.goal_at[name] = now

        def wait() -> float:
            deadline = time.monotonic() + timeout
            with self._seen:
                while missing := wanted - self.goal_at.keys():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise BenchError(
                            f"{len(missing)} of {len(wanted)} {self.kind.plural} not there "
                            f"after {timeout:.0f}s (e.g. {sorted(missing)[:3]}); "
                            f"watch error: {self.error}"
                        )
                    self._seen.wait(min(left, 1.0))
                self.goal = self.milestone = None
                return max(self.goal_at[name] for name in wanted)

        return wait

    def change_count(self) -> int:
        with self._seen:
            return sum(self.changes.values())

    def stop(self) -> None:
        self._stopping.set()


# -- the operator process and its metrics ----------------------------------------------------


@dataclass
class OperatorProcess:
    """`python -m modelship run --namespace bench` with metrics on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    @classmethod
    def start(cls, kubeconfig: Path, log: Path) -> OperatorProcess:
        port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "MODELSHIP_BIND_ADDRESS": "127.0.0.1",
            "MODELSHIP_METRICS_PORT": str(port),
            "MODELSHIP_HEALTH_PORT": "0",
            "MALLOC_ARENA_MAX": "2",  # as the operator image sets it
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "modelship", "run", "--namespace", NAMESPACE],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        operator = cls(process, log, port)
        wait_for_port(port, 60, process, "the operator's metrics endpoint", log)
        return operator

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(
                f"the operator exited with code {self.process.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def scrape(self) -> Counter[tuple[str, ...]]:
        """Samples of the operator's counters: ("api", verb, resource) and ("reconcile", result)."""
        from prometheus_client.parser import text_string_to_metric_families

        self.check_alive()
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        samples: Counter[tuple[str, ...]] = Counter()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "modelship_api_requests_total":
                    key = ("api", sample.labels["verb"], sample.labels["resource"])
                    samples[key] = int(sample.value)
                elif sample.name == "modelship_reconciles_total":
                    samples[("reconcile", sample.labels["result"])] = int(sample.value)
                elif sample.name == "modelship_reconcile_duration_seconds_sum":
                    # In milliseconds, to keep the samples whole numbers.
                    samples[("pass-ms", sample.labels["result"])] = round(sample.value * 1000)
                elif sample.name == "modelship_reconcile_slot_wait_seconds_sum":
                    samples[("wait-ms", "")] = round(sample.value * 1000)
                else:
                    histogram, _, part = sample.name.rpartition("_")
                    if histogram in MEANS and part in ("sum", "count"):  # x 1000, as above
                        # Summed over the label sets (the API's durations are by verb).
                        samples[(MEANS[histogram], part)] += round(sample.value * 1000)
        return samples

    def proc_status(self, field_name: str) -> float:
        """A memory figure of /proc/<pid>/status in MiB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        return stat_cpu_seconds(Path(f"/proc/{self.process.pid}/stat").read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stat_cpu_seconds(stat: str) -> float:
    """User plus system CPU seconds from the text of a /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_command() -> Counter[str]:
    """CPU seconds so far of every process on the machine, by command name (the API server,
    etcd, the controllers, kwok, the S3 server, the operator and the bench share the CPUs)."""
    used: Counter[str] = Counter()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        used[text[text.index("(") + 1 : text.rindex(")")]] += stat_cpu_seconds(text)
    return used


def top_cpu(before: Counter[str], after: Counter[str], count: int = 6) -> str:
    spent = Counter({k: after[k] - before.get(k, 0.0) for k in after})
    return ", ".join(f"{k} {v:.0f}" for k, v in spent.most_common(count) if v >= 0.5)


MEANS = {
    "modelship_api_request_duration_seconds": "api-latency",
    "modelship_event_loop_lag_seconds": "lag",
}
"""The operator's histograms whose means the bench prints, by the key its samples use."""


def waits(before: Counter[tuple[str, ...]], after: Counter[tuple[str, ...]]) -> str:
    """What the operator waited on between two scrapes: the API's answers, its event loop."""
    return (
        f"API request {mean_of(before, after, 'api-latency')}, "
        f"event loop lag {mean_of(before, after, 'lag')} (means)"
    )


def mean_of(before: Counter[tuple[str, ...]], after: Counter[tuple[str, ...]], name: str) -> str:
    """The mean of a histogram between two scrapes (its sum and count, kept x 1000), in ms."""
    total = after[(name, "sum")] - before[(name, "sum")]
    count = (after[(name, "count")] - before[(name, "count")]) / 1000
    return f"{total / count:.1f} ms" if count else "none"


def operator_overrides() -> dict[str, str]:
    """The operator's settings given through the environment (`modelship run` reads
    MODELSHIP_*; the bench's own process passes its environment on)."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("MODELSHIP_")}


def writes(before: Counter[tuple[str, ...]], after: Counter[tuple[str, ...]]) -> Counter[str]:
    """API writes between two scrapes, by "VERB resource"."""
    return Counter(
        {
            f"{key[1]} {key[2]}": after[key] - before[key]
            for key in after
            if key[0] == "api" and key[1] in WRITE_VERBS and after[key] > before[key]
        }
    )


def requests_of(
    before: Counter[tuple[str, ...]], after: Counter[tuple[str, ...]], verbs: tuple[str, ...]
) -> int:
    return sum(after[k] - before[k] for k in after if k[0] == "api" and k[1] in verbs)


def reconciles(before: Counter[tuple[str, ...]], after: Counter[tuple[str, ...]]) -> Counter[str]:
    return Counter({k[1]: after[k] - before[k] for k in after if k[0] == "reconcile"})


def pass_seconds(
    before: Counter[tuple[str, ...]], after: Counter[tuple[str, ...]], kind: str = "pass-ms"
) -> float:
    """Seconds spent in reconcile passes between two scrapes, all passes together (each holds
    one of the operator's slots meanwhile, whether it computes or waits on the API); with
    `kind` "wait-ms", the seconds passes waited for a slot."""
    return sum(after[k] - before[k] for k in after if k[0] == kind) / 1000


def arrival_spread(arrived: Mapping[str, float], names: Iterable[str], started: float) -> str:
    """When the objects got there: the median and the 90th percentile, from `started`."""
    times = sorted(arrived[name] - started for name in names if name in arrived)
    if not times:
        return "none"
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    return f"p50 {statistics.median(times):.1f}s, p90 {p90:.1f}s"


def describe(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in sorted(counts.items()) if value) or "none"


# -- the world: cluster, S3, namespace, objects ----------------------------------------------


@dataclass
class World:
    cluster: Cluster
    s3: S3Server
    api_client: Any
    operator: OperatorProcess
    models: ReadyWatch
    deployments: ReadyWatch
    served_template: dict[str, Any] = field(default_factory=dict)
    served_ports: list[dict[str, Any]] = field(default_factory=list)
    spreads: dict[str, str] = field(default_factory=dict)
    """(e): when the objects got there, by kind: "p50 ..., p90 ..." seconds from the start."""

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def model_deployment(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name},
            "spec": {
                "model": {"storageUri": MODEL_URI},
                "storage": {"endpoint": self.s3.endpoint, "secretRef": {"name": SECRET}},
                "serving": {"replicas": 1},
            },
        }

    def plain_deployment(self, name: str) -> dict[str, Any]:
        """The operator's serving Deployment under another name, with labels of its own (the
        operator must neither count its pods nor be woken by them)."""
        spec = copy.deepcopy(self.served_template)
        labels = {PLAIN_LABEL: name}
        spec["replicas"] = 1
        spec["selector"] = {"matchLabels": labels}
        spec["template"].setdefault("metadata", {})["labels"] = labels
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": spec,
        }

    def plain_service(self, name: str) -> dict[str, Any]:
        """The operator's serving Service (its ports) in front of one plain Deployment."""
        labels = {PLAIN_LABEL: name}
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {"selector": labels, "ports": copy.deepcopy(self.served_ports)},
        }

    def create(self, kind: Kind, body: Mapping[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(
            kind.group, kind.version, NAMESPACE, kind.plural, body
        )

    def count(self, group: str, version: str, plural: str) -> int:
        listing = self.custom.list_namespaced_custom_object(group, version, NAMESPACE, plural)
        return len(listing.get("items", []))

    def pod_count(self) -> int:
        from kubernetes import client

        return len(client.CoreV1Api(self.api_client).list_namespaced_pod(NAMESPACE).items)

    def remove_all(self, timeout: float) -> None:
        """Deletes every ModelDeployment and plain Deployment and waits until no pod is left,
        so the next measurement starts from an empty namespace."""
        self.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
        self.custom.delete_collection_namespaced_custom_object(
            "apps", "v1", NAMESPACE, "deployments", label_selector=PLAIN_LABEL
        )
        core = self.core
        for service in core.list_namespaced_service(NAMESPACE, label_selector=PLAIN_LABEL).items:
            core.delete_namespaced_service(service.metadata.name, NAMESPACE)
        deadline = time.monotonic() + timeout
        while True:
            left = {
                "modeldeployments": self.count(GROUP, VERSION, PLURAL),
                "deployments": self.count("apps", "v1", "deployments"),
                "pods": self.pod_count(),
            }
            if not any(left.values()):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"objects left {timeout:.0f}s after deleting them: {left}")
            time.sleep(0.5)

    def timed_batch(
        self, kind: Kind, names: list[str], build: Callable[[str], dict[str, Any]], timeout: float
    ) -> float:
        """Creates the objects one after another; seconds from the first create until the
        last one is seen ready."""
        watch = self.models if kind is MODEL_DEPLOYMENTS else self.deployments
        started = time.monotonic()
        for name in names:
            self.create(kind, build(name))
        try:
            return watch.wait_ready(names, timeout) - started
        except BenchError as error:
            raise BenchError(f"{error}\noperator log:\n{self.operator.log_tail()}") from None

    def timed_plain_with_service(self, names: list[str], timeout: float) -> float:
        """As `timed_batch` for plain Deployments, each behind a Service of its own created
        just before it: what a person serving a model without the operator would apply."""
        started = time.monotonic()
        for name in names:
            self.core.create_namespaced_service(NAMESPACE, self.plain_service(name))
            self.create(DEPLOYMENTS, self.plain_deployment(name))
        return self.deployments.wait_ready(names, timeout) - started

    def timed_plain_rollout(self, names: list[str], timeout: float) -> float:
        """Changes every plain Deployment's pod template (an annotation, as `kubectl rollout
        restart` does); seconds until every one is rolled and Available again."""

        def rolled(obj: Mapping[str, Any]) -> bool:
            template = (obj.get("spec") or {}).get("template") or {}
            annotations = (template.get("metadata") or {}).get("annotations") or {}
            return "bench/restarted" in annotations and deployment_available(obj)

        wait = self.deployments.wait_goal(names, rolled, timeout)
        started = time.monotonic()
        patch = {"spec": {"template": {"metadata": {"annotations": {"bench/restarted": "1"}}}}}
        for name in names:
            self.custom.patch_namespaced_custom_object(
                "apps", "v1", NAMESPACE, "deployments", name, patch
            )
        took = wait() - started
        self.spreads["deployments"] = arrival_spread(self.deployments.goal_at, names, started)
        return took

    def timed_new_version(self, names: list[str], timeout: float) -> float:
        """Publishes the next version of the model; seconds until every ModelDeployment is
        Ready with it as its current version (each notices it on its next poll)."""
        from tests.models import write_tiny_saved_model

        with tempfile.TemporaryDirectory(prefix="bench-v2-") as folder:
            model = write_tiny_saved_model(Path(folder) / "tiny")
            store = ArtifactStore(self.s3.client(), parse_storage_uri(MODEL_URI))
            started = time.monotonic()
            published = store.push(model)

        def serving_new(obj: Mapping[str, Any]) -> bool:
            status = obj.get("status") or {}
            return status.get("currentVersion") == published.number and model_deployment_ready(obj)

        def targets_new(obj: Mapping[str, Any]) -> bool:
            return (obj.get("status") or {}).get("targetVersion") == published.number

        took = self.models.wait_goal(names, serving_new, timeout, targets_new)() - started
        self.spreads["modeldeployments"] = arrival_spread(self.models.goal_at, names, started)
        self.spreads["discovered"] = arrival_spread(self.models.milestone_at, names, started)
        return took

    def event_count(self) -> int:
        """Events on ModelDeployments (kopf posts them; the operator's counter does not see
        them), counting repeats folded into one Event."""
        from kubernetes import client

        events = client.CoreV1Api(self.api_client).list_namespaced_event(
            NAMESPACE, field_selector=f"involvedObject.kind={KIND}"
        )
        return sum(max(e.count or 1, 1) for e in events.items)


@contextmanager
def bench_cluster(
    prefix: str, tmp: Path, audit: bool = False
) -> Iterator[tuple[Cluster, S3Server, Any]]:
    """A bench's own cluster with the CRD applied, its own S3 server with the bucket, and the
    namespace with the S3 Secret; yields (cluster, S3 server, API client). All of it stopped
    and deleted when the block ends, however it ends. bench/rollout.py uses it too."""
    from kubernetes import client, config

    cluster = Cluster(f"{prefix}-{os.getpid()}", audit=audit)
    s3 = S3Server(tmp / "s3")
    try:
        progress(f"starting cluster {cluster.name}")
        cluster.create()
        folder = crds_dir()
        if folder is None:
            raise BenchError("crds/ not found: run this from a checkout of modelship")
        for path in sorted(folder.glob("*.yaml")):
            cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
        wait_established(cluster.kubeconfig, f"{PLURAL}.{GROUP}")
        progress("starting S3")
        s3.start()
        s3.create_bucket(BUCKET)
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        core.create_namespaced_secret(
            NAMESPACE,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=SECRET),
                string_data={
                    "AWS_ACCESS_KEY_ID": s3.access_key,
                    "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                },
            ),
        )
        yield cluster, s3, api_client
    finally:
        s3.stop()
        cluster.delete()
        # Cluster.create leaves its kwokctl configuration next to the clusters; it is ours.
        (kwok_workdir() / f"{cluster.name}.kwokctl.yaml").unlink(missing_ok=True)


@contextmanager
def world(tmp: Path, timeout: float) -> Iterator[World]:
    """Everything up (cluster, CRD, S3 with one version, Secret, operator, watches); all of
    it stopped and deleted when the block ends, however it ends."""
    from kubernetes import config
    from tests.models import write_tiny_saved_model

    operator: OperatorProcess | None = None
    watches: list[ReadyWatch] = []
    # The API server's audit log says which client made each request of the idle window.
    with bench_cluster("bench-op", tmp, audit=True) as (cluster, s3, api_client):
        try:
            progress("publishing one tiny version")
            model = write_tiny_saved_model(tmp / "tiny")
            ArtifactStore(s3.client(), parse_storage_uri(MODEL_URI)).push(model)
            # Each watch gets its own client: a long-lived watch holds a pooled connection.
            watches = [
                ReadyWatch(config.new_client_from_config(config_file=str(cluster.kubeconfig)), kind)
                for kind in (MODEL_DEPLOYMENTS, DEPLOYMENTS)
            ]
            for watch in watches:
                watch.start()
            progress("starting the operator")
            operator = OperatorProcess.start(cluster.kubeconfig, tmp / "operator.log")
            yield World(cluster, s3, api_client, operator, watches[0], watches[1])
        finally:
            progress("cleaning up")
            for watch in watches:
                watch.stop()
            if operator is not None:
                operator.stop()


# -- the measurements ------------------------------------------------------------------------


@dataclass
class Figures:
    single_md: list[float] = field(default_factory=list)
    single_plain: list[float] = field(default_factory=list)
    single_writes: list[int] = field(default_factory=list)
    single_write_kinds: Counter[str] = field(default_factory=Counter)
    batch_md: float = 0.0
    batch_plain: float = 0.0
    batch_plain_service: float = 0.0
    batch_writes: Counter[str] = field(default_factory=Counter)
    batch_events: int = 0
    batch_md_changes: int = 0
    batch_cpu: float = 0.0
    batch_passes: Counter[str] = field(default_factory=Counter)
    settle_writes: Counter[str] = field(default_factory=Counter)
    idle_writes: Counter[str] = field(default_factory=Counter)
    idle_reads: int = 0
    idle_server: Counter[str] = field(default_factory=Counter)
    idle_audit: Counter[str] = field(default_factory=Counter)
    idle_reconciles: Counter[str] = field(default_factory=Counter)
    idle_events: int = 0
    idle_md_changes: int = 0
    idle_deployment_changes: int = 0
    idle_cpu: float = 0.0
    rss_start: float = 0.0
    rss_ready: float = 0.0
    rss_idle: float = 0.0
    rss_peak: float = 0.0
    rollout_md: float = 0.0
    rollout_plain: float = 0.0
    rollout_cpu: float = 0.0
    rollout_md_spread: str = ""
    rollout_discovered_spread: str = ""
    rollout_plain_spread: str = ""
    rollout_plain_service: float = 0.0
    rollout_plain_service_spread: str = ""
    rollout_plain_service_machine: str = ""
    rollout_passes: Counter[str] = field(default_factory=Counter)
    rollout_pass_seconds: float = 0.0
    rollout_wait_seconds: float = 0.0
    rollout_latencies: str = ""
    rollout_md_machine: str = ""
    rollout_plain_machine: str = ""
    batch_latencies: str = ""
    rollout_writes: Counter[str] = field(default_factory=Counter)


def warm_up(w: World, timeout: float) -> None:
    """One ModelDeployment to Ready: the operator's first reconcile is not measured, and its
    serving Deployment gives the plain Deployments their pod template."""
    progress("warm-up: one ModelDeployment to Ready")
    w.timed_batch(MODEL_DEPLOYMENTS, ["warm-up"], w.model_deployment, timeout)
    served = w.custom.get_namespaced_custom_object(
        "apps", "v1", NAMESPACE, "deployments", "warm-up-serving"
    )
    w.served_template = served["spec"]
    service = w.core.read_namespaced_service("warm-up", NAMESPACE, _preload_content=False)
    w.served_ports = [
        {key: port[key] for key in ("name", "port", "targetPort", "protocol") if key in port}
        for port in json.loads(service.data)["spec"]["ports"]
    ]
    w.remove_all(timeout)


def measure_single(w: World, figures: Figures, runs: int, timeout: float) -> None:
    for run in range(runs):
        progress(f"(a) run {run + 1}/{runs}")
        order = ["md", "plain"] if run % 2 == 0 else ["plain", "md"]
        for which in order:
            if which == "md":
                before = w.operator.scrape()
                seconds = w.timed_batch(
                    MODEL_DEPLOYMENTS, [f"single-{run}"], w.model_deployment, timeout
                )
                done = writes(before, w.operator.scrape())
                figures.single_md.append(seconds)
                figures.single_writes.append(sum(done.values()))
                figures.single_write_kinds += done
            else:
                figures.single_plain.append(
                    w.timed_batch(DEPLOYMENTS, [f"plain-{run}"], w.plain_deployment, timeout)
                )
        w.remove_all(timeout)


def measured_plain_rollout(w: World, names: list[str], timeout: float) -> tuple[float, str, str]:
    """A pod template change of the named plain Deployments: seconds until all rolled, when
    they got there, and the machine's CPU by process meanwhile."""
    cpu_before = cpu_by_command()
    took = w.timed_plain_rollout(names, timeout)
    return took, w.spreads["deployments"], top_cpu(cpu_before, cpu_by_command())


def measure_batch(w: World, figures: Figures, count: int, idle: float, timeout: float) -> None:
    progress(f"(b) {count} plain Deployments at once")
    names = [f"plain-batch-{i}" for i in range(count)]
    figures.batch_plain = w.timed_batch(DEPLOYMENTS, names, w.plain_deployment, timeout)
    progress(f"(e) a pod template change of {count} plain Deployments")
    (
        figures.rollout_plain,
        figures.rollout_plain_spread,
        figures.rollout_plain_machine,
    ) = measured_plain_rollout(w, names, timeout)
    w.remove_all(timeout)
    progress(f"(b) {count} plain Deployments, each with a Service, at once")
    names = [f"plain-svc-{i}" for i in range(count)]
    figures.batch_plain_service = w.timed_plain_with_service(names, timeout)
    progress(f"(e) a pod template change of {count} plain Deployments, each with a Service")
    (
        figures.rollout_plain_service,
        figures.rollout_plain_service_spread,
        figures.rollout_plain_service_machine,
    ) = measured_plain_rollout(w, names, timeout)
    w.remove_all(timeout)

    progress(f"(b) {count} ModelDeployments at once")
    figures.rss_start = w.operator.proc_status("VmRSS")
    before = w.operator.scrape()
    events_before = w.event_count()
    changes_before = w.models.change_count()
    names = [f"md-{i}" for i in range(count)]
    cpu_before = w.operator.cpu_seconds()
    figures.batch_md = w.timed_batch(MODEL_DEPLOYMENTS, names, w.model_deployment, timeout)
    figures.batch_cpu = w.operator.cpu_seconds() - cpu_before
    ready = w.operator.scrape()
    figures.batch_latencies = waits(before, ready)
    figures.batch_passes = reconciles(before, ready)
    figures.batch_writes = writes(before, ready)
    figures.batch_events = w.event_count() - events_before
    figures.batch_md_changes = w.models.change_count() - changes_before
    figures.rss_ready = w.operator.proc_status("VmRSS")

    progress(f"(c) settling {SETTLE_SECONDS:.0f}s, then idle for {idle:.0f}s")
    time.sleep(SETTLE_SECONDS)
    start = w.operator.scrape()
    figures.settle_writes = writes(ready, start)
    events_start = w.event_count()
    md_changes = w.models.change_count()
    deployment_changes = w.deployments.change_count()
    cpu_start = w.operator.cpu_seconds()
    server_start = server_requests(w)
    audit_start = audit_size(w.cluster)
    time.sleep(idle)
    end = w.operator.scrape()
    figures.idle_server = server_requests(w) - server_start
    figures.idle_audit = audited_requests(w.cluster, audit_start, audit_size(w.cluster))
    figures.idle_cpu = w.operator.cpu_seconds() - cpu_start
    figures.idle_writes = writes(start, end)
    figures.idle_reads = requests_of(start, end, ("GET",))
    figures.idle_reconciles = reconciles(start, end)
    figures.idle_events = w.event_count() - events_start
    figures.idle_md_changes = w.models.change_count() - md_changes
    figures.idle_deployment_changes = w.deployments.change_count() - deployment_changes
    figures.rss_idle = w.operator.proc_status("VmRSS")

    progress(f"(e) a new version in S3, until all {count} ModelDeployments serve it")
    cpu_before = w.operator.cpu_seconds()
    machine_before = cpu_by_command()
    figures.rollout_md = w.timed_new_version(names, timeout)
    figures.rollout_md_machine = top_cpu(machine_before, cpu_by_command())
    figures.rollout_md_spread = w.spreads["modeldeployments"]
    figures.rollout_discovered_spread = w.spreads["discovered"]
    figures.rollout_cpu = w.operator.cpu_seconds() - cpu_before
    rolled = w.operator.scrape()
    figures.rollout_passes = reconciles(end, rolled)
    figures.rollout_pass_seconds = pass_seconds(end, rolled)
    figures.rollout_wait_seconds = pass_seconds(end, rolled, "wait-ms")
    figures.rollout_latencies = waits(end, rolled)
    figures.rollout_writes = writes(end, rolled)
    figures.rss_peak = w.operator.proc_status("VmHWM")


# What a reconcile of a ModelDeployment could read or write; the API server counts requests
# for them whoever makes them (in this cluster: the operator, and the controllers, which are
# quiet while nothing changes).
OPERATOR_RESOURCES = ("modeldeployments", "deployments", "services", "pods", "jobs", "secrets")


def server_requests(w: World) -> Counter[str]:
    """apiserver_request_total for those resources by verb and resource, WATCH left out (a
    stream, counted when it opens): the API server's own count, not the operator's."""
    text = w.cluster.kubectl("get", "--raw", "/metrics").stdout
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(
            part.split("=", 1) for part in line[line.index("{") + 1 : line.rindex("}")].split(",")
        )
        resource = labels.get("resource", "").strip('"')
        verb = labels.get("verb", "").strip('"')
        if resource in OPERATOR_RESOURCES and verb != "WATCH":
            counts[f"{verb} {resource}"] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def audit_size(cluster: Cluster) -> int:
    return cluster.audit_log.stat().st_size if cluster.audit_log.exists() else 0


def audited_requests(cluster: Cluster, start: int, end: int) -> Counter[str]:
    """The audit log's requests for those resources between two of its sizes, by client (the
    user agent's program, and for the controller-manager which of its controllers), verb and
    resource: who made the requests the API server counted."""
    counts: Counter[str] = Counter()
    with cluster.audit_log.open("rb") as log:
        log.seek(start)
        lines = log.read(end - start).splitlines()
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut at either end of the window
        resource = (entry.get("objectRef") or {}).get("resource", "")
        if resource not in OPERATOR_RESOURCES:
            continue
        agent = str(entry.get("userAgent") or "unknown")
        client = agent.split("/", 1)[0]
        if "system:serviceaccount:" in agent:
            client += ":" + agent.rsplit(":", 1)[1]
        counts[f"{client} {entry.get('verb', '').upper()} {resource}"] += 1
    return counts


# -- report -----------------------------------------------------------------------------------


def report(figures: Figures, count: int, idle: float) -> None:
    def row(label: str, value: str) -> None:
        print(f"  {label:<40} {value}")

    def spread(values: list[float]) -> str:
        return (
            f"median {statistics.median(values):.2f}s (min {min(values):.2f}s, "
            f"max {max(values):.2f}s, {len(values)} runs)"
        )

    per_minute = 60.0 / idle
    idle_total = sum(figures.idle_writes.values())
    single_writes = statistics.median([float(n) for n in figures.single_writes])
    print("\n(a) one object, apply -> ready (runs alternate which kind goes first)")
    row("ModelDeployment -> Ready", spread(figures.single_md))
    row("plain Deployment -> Available", spread(figures.single_plain))
    ratio = statistics.median(figures.single_md) / statistics.median(figures.single_plain)
    row("ratio of medians (operator overhead)", f"{ratio:.2f}x")
    print(f"\n(b) {count} objects created at once, until the last one is ready")
    row(f"{count} ModelDeployments -> all Ready", f"{figures.batch_md:.2f}s")
    row(f"{count} plain Deployments -> all Available", f"{figures.batch_plain:.2f}s")
    row("ratio (operator overhead)", f"{figures.batch_md / figures.batch_plain:.2f}x")
    row(
        f"{count} plain Deployments + Services -> all Available",
        f"{figures.batch_plain_service:.2f}s (ratio to it "
        f"{figures.batch_md / figures.batch_plain_service:.2f}x)",
    )
    row(
        "operator's work meanwhile",
        f"{figures.batch_cpu:.1f} CPU-s ({1000 * figures.batch_cpu / count:.0f} ms per "
        f"ModelDeployment); {sum(figures.batch_passes.values()) / count:.1f} passes per "
        f"ModelDeployment ({describe(figures.batch_passes)})",
    )
    row("  the operator's waits meanwhile", figures.batch_latencies or "not measured")
    print("\n(c) Kubernetes API writes of the reconcile loops (modelship_api_requests_total)")
    row(
        "to Ready, one at a time (median)",
        f"{single_writes:.0f} per ModelDeployment "
        f"(all runs together: {describe(figures.single_write_kinds)})",
    )
    row(
        f"to Ready, {count} at once",
        f"{sum(figures.batch_writes.values()) / count:.1f} per ModelDeployment "
        f"({describe(figures.batch_writes)})",
    )
    row(
        "  Events posted, object changes",
        f"{figures.batch_events / count:.1f} Events per ModelDeployment (kopf or the operator); "
        f"{figures.batch_md_changes / count:.1f} changes per ModelDeployment object",
    )
    row(f"in the {SETTLE_SECONDS:.0f}s after all were Ready", describe(figures.settle_writes))
    row(
        f"idle, {count} Ready, over {idle:.0f}s",
        f"{idle_total} writes = {idle_total * per_minute:.1f} per minute = "
        f"{idle_total * per_minute / count:.2f} per ModelDeployment per minute",
    )
    row("  idle writes by verb and resource", describe(figures.idle_writes))
    row(
        "  idle reads, reconciles",
        f"{figures.idle_reads * per_minute:.0f} GETs per minute; "
        f"reconciles: {describe(figures.idle_reconciles)}",
    )
    server_total = sum(figures.idle_server.values())
    row(
        "  idle requests, counted by the API server",
        f"{server_total * per_minute:.0f} per minute on {', '.join(OPERATOR_RESOURCES)} "
        f"(WATCH aside): {describe(figures.idle_server)}",
    )
    row(
        "  the same by client (API server's audit log)",
        describe(figures.idle_audit),
    )
    row(
        "  idle object changes, Events",
        f"{figures.idle_md_changes} ModelDeployment, {figures.idle_deployment_changes} "
        f"Deployment changes; {figures.idle_events} Events",
    )
    row("  operator CPU while idle", f"{figures.idle_cpu * per_minute:.2f} CPU-s per minute")
    print("\n(d) operator process memory (VmRSS of `modelship run`)")
    row(f"before the {count} ModelDeployments", f"{figures.rss_start:.1f} MiB")
    row(f"all {count} Ready", f"{figures.rss_ready:.1f} MiB")
    row("after the idle window", f"{figures.rss_idle:.1f} MiB")
    row("peak over the whole run (VmHWM)", f"{figures.rss_peak:.1f} MiB")
    print(f"\n(e) a new version, until all {count} serve it (pollInterval {POLL_SECONDS:.0f}s)")
    row(
        f"new version in S3 -> all {count} Ready on it",
        f"{figures.rollout_md:.2f}s ({figures.rollout_md_spread})",
    )
    row(
        "  of which: the status names it the target",
        figures.rollout_discovered_spread or "not measured",
    )
    row(
        f"template change -> all {count} plain rolled",
        f"{figures.rollout_plain:.2f}s ({figures.rollout_plain_spread})",
    )
    budget = POLL_SECONDS + 2 * figures.rollout_plain
    row("goal: poll interval + 2 x plain rollout", f"{budget:.2f}s")
    # A ModelDeployment's pods sit behind a Service, so each rollout also moves endpoints
    # (EndpointSlice writes by the controller manager): the baseline that does the same.
    row(
        f"template change -> all {count} plain with Services rolled",
        f"{figures.rollout_plain_service:.2f}s ({figures.rollout_plain_service_spread}); "
        f"poll interval + 2 x it: {POLL_SECONDS + 2 * figures.rollout_plain_service:.2f}s",
    )
    row(
        "operator's work meanwhile",
        f"{figures.rollout_cpu:.1f} CPU-s; "
        f"{sum(figures.rollout_passes.values()) / count:.1f} passes and "
        f"{sum(figures.rollout_writes.values()) / count:.1f} writes per ModelDeployment "
        f"({describe(figures.rollout_writes)})",
    )
    in_passes = figures.rollout_pass_seconds
    passes = max(sum(figures.rollout_passes.values()), 1)
    slots = int(
        operator_overrides().get(
            "MODELSHIP_MAX_CONCURRENT_RECONCILES", OperatorSettings().max_concurrent_reconciles
        )
    )
    busy = in_passes / max(figures.rollout_md * slots, 1e-9)
    row(
        "  time in passes meanwhile",
        f"{in_passes:.1f} s, {in_passes / passes * 1000:.1f} ms per pass; the {slots} slots "
        f"busy {busy:.0%} of the rollout; {figures.rollout_wait_seconds / passes * 1000:.1f} ms "
        "waited for a slot per pass",
    )
    row("  the operator's waits meanwhile", figures.rollout_latencies or "not measured")
    row("  CPU-s by process, ModelDeployments", figures.rollout_md_machine or "not measured")
    row("  CPU-s by process, plain", figures.rollout_plain_machine or "not measured")
    row(
        "  CPU-s by process, plain with Services",
        figures.rollout_plain_service_machine or "not measured",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100, help="objects in the batch (b)")
    parser.add_argument("--runs", type=int, default=3, help="runs of the single-object test (a)")
    parser.add_argument("--idle-seconds", type=float, default=60, help="idle window for (c)")
    parser.add_argument(
        "--timeout", type=float, default=0, help="seconds to wait for readiness (default: scales)"
    )
    args = parser.parse_args()
    if args.count < 1 or args.runs < 1 or args.idle_seconds <= 0:
        parser.error("--count and --runs must be at least 1, --idle-seconds more than 0")
    if args.count > 1800:
        # CPU-only pods fit only on the two untainted simulated nodes (1,000 pods each), and a
        # rollout holds a surge pod beside each old one.
        parser.error("--count is at most 1800: the simulated cluster has room for 2,000 CPU pods")
    timeout = args.timeout or max(120.0, args.count * 3.0)
    if args.idle_seconds < POLL_SECONDS:
        print(
            f"note: --idle-seconds {args.idle_seconds:g} is shorter than the poll interval "
            f"({POLL_SECONDS:.0f}s): the idle window may see no poll at all",
            file=sys.stderr,
        )

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    ensure_built(("kubernetes", "etcd", "kwok", "versitygw"))
    figures = Figures()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp,
            world(Path(tmp), timeout) as w,
        ):
            version = w.cluster.kubectl("version", "-o", "json").stdout
            server = json.loads(version).get("serverVersion", {}).get("gitVersion", "?")
            nodes = default_nodes()
            gpu_nodes = sum(1 for n in nodes if "nvidia.com/gpu" in n["status"]["capacity"])
            print(
                f"setup: {os.cpu_count()} CPUs ({platform.machine()}), Python "
                f"{platform.python_version()}, Kubernetes {server} (kwokctl, kwok {KWOK_VERSION}),"
                f" {len(nodes)} simulated nodes ({gpu_nodes} GPU, tainted; "
                f"{len(nodes) - gpu_nodes} CPU), versitygw S3, all on 127.0.0.1",
                flush=True,
            )
            settings = ", ".join(f"{k}={v}" for k, v in operator_overrides().items())
            settings = settings or "defaults"
            print(
                f"       operator: `python -m modelship run --namespace {NAMESPACE}` "
                f"({settings}); "
                "ModelDeployments: 1 replica, CPU only, pollInterval default "
                f"({POLL_SECONDS:.0f}s); "
                f"--count {args.count} --runs {args.runs} --idle-seconds {args.idle_seconds:g}",
                flush=True,
            )
            warm_up(w, timeout)
            measure_single(w, figures, args.runs, timeout)
            measure_batch(w, figures, args.count, args.idle_seconds, timeout)
    except KeyboardInterrupt:
        print("error: interrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
    except (BenchError, TestbedError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    report(figures, args.count, args.idle_seconds)


if __name__ == "__main__":
    main()
