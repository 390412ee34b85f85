# ruff: noqa: E501  (the Stage templates are YAML; their lines stay whole to stay readable)
"""What the simulated cluster looks like: its nodes and the pod behaviours kwok plays.

kwok runs no containers; it moves pods through the states a kubelet would report. The stock
Stages make every pod Ready (and every Job pod complete). The failure Stages below make a pod
behave like a real broken workload when its first container uses one of the SIMULATED_IMAGES,
so tests and demos can show crash loops, image pull errors, OOM kills, failing init containers
and failing training runs exactly as the API server would report them. Selectors are exclusive
(the stock ready/complete Stages skip these images), so what happens is deterministic.
"""

from __future__ import annotations

from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-80GB"

SIM_PREFIX = "modelship.invalid/sim"
CRASHLOOP_IMAGE = f"{SIM_PREFIX}:crashloop"
OOMKILLED_IMAGE = f"{SIM_PREFIX}:oomkilled"
IMAGEPULL_IMAGE = f"{SIM_PREFIX}:imagepull"
NEVER_READY_IMAGE = f"{SIM_PREFIX}:never-ready"
INIT_CHECKSUM_IMAGE = f"{SIM_PREFIX}:init-checksum-mismatch"
TRAIN_FAIL_IMAGE = f"{SIM_PREFIX}:train-fail"
# A trainer that runs until a test says it has published its version (by giving its pods
# this annotation) and then exits 0: the real trainer's order, publish then exit.
TRAINER_IMAGE = f"{SIM_PREFIX}:trainer"
TRAINER_EXIT_ANNOTATION = "sim.modelship.io/exit"
SIMULATED_IMAGES = (
    CRASHLOOP_IMAGE,
    OOMKILLED_IMAGE,
    IMAGEPULL_IMAGE,
    NEVER_READY_IMAGE,
    INIT_CHECKSUM_IMAGE,
    TRAIN_FAIL_IMAGE,
    TRAINER_IMAGE,
)
FIRST_IMAGE = ".spec.containers.[0].image"


def node(
    name: str,
    *,
    cpu: str,
    memory: str,
    gpus: int = 0,
    product: str | None = None,
) -> dict[str, Any]:
    """A fake Node that kwok manages; GPU nodes are tainted and labelled like real ones."""
    # Room for 1,000 models and as many plain Deployments beside them (the scale bench); kwok's
    # pods cost nothing, unlike a real kubelet's 110.
    capacity = {"cpu": cpu, "memory": memory, "pods": "1000", "ephemeral-storage": "500Gi"}
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    spec: dict[str, Any] = {}
    if gpus:
        capacity[GPU_RESOURCE] = str(gpus)
        labels[GPU_PRODUCT_LABEL] = product or H100
        labels["nvidia.com/gpu.count"] = str(gpus)
        spec["taints"] = [{"key": GPU_RESOURCE, "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
            },
        },
    }


def default_nodes() -> list[dict[str, Any]]:
    """4 GPU nodes (8 GPUs each, two products) and 2 CPU-only nodes."""
    return [
        node("gpu-h100-0", cpu="96", memory="1Ti", gpus=8, product=H100),
        node("gpu-h100-1", cpu="96", memory="1Ti", gpus=8, product=H100),
        node("gpu-a100-0", cpu="64", memory="512Gi", gpus=8, product=A100),
        node("gpu-a100-1", cpu="64", memory="512Gi", gpus=8, product=A100),
        node("cpu-0", cpu="16", memory="64Gi"),
        node("cpu-1", cpu="16", memory="64Gi"),
    ]


def exclude_simulated(stage: dict[str, Any]) -> dict[str, Any]:
    """A stock pod Stage that leaves pods running a simulated image to the failure Stages."""
    selector = stage["spec"].setdefault("selector", {})
    selector.setdefault("matchExpressions", []).append(
        {"key": FIRST_IMAGE, "operator": "NotIn", "values": list(SIMULATED_IMAGES)}
    )
    return stage


def _stage(
    name: str,
    image: str,
    phase_in: list[str],
    template: str,
    delay_ms: int = 300,
    *,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Stage for pods of `image` in a phase of `phase_in`: written once, when the pod has no
    container statuses yet, unless it waits for `annotations` (which a test sets once)."""
    once = [] if annotations else [{"key": ".status.containerStatuses", "operator": "DoesNotExist"}]
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {
                "matchExpressions": [
                    {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                    {"key": ".spec.nodeName", "operator": "Exists"},
                    {"key": FIRST_IMAGE, "operator": "In", "values": [image]},
                    {"key": ".status.phase", "operator": "In", "values": phase_in},
                    # Each failure is written once (a kubelet would have written statuses
                    # already); without this the Stage would fire again and again.
                    *once,
                ],
                **({"matchAnnotations": annotations} if annotations else {}),
            },
            "delay": {"durationMilliseconds": delay_ms},
            "next": {"statusTemplate": template},
        },
    }


_NOW = "{{ $now := Now }}\n"
_CONDITIONS_NOT_READY = """
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
- {lastTransitionTime: {{ $now | Quote }}, status: "INIT", type: Initialized, reason: INITREASON}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: ContainersNotReady}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady, reason: ContainersNotReady}
"""
_INIT_OK = """
initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  state: {terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}}
{{ end }}
"""
_POD_IP = """
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
startTime: {{ $now | Quote }}
"""


def _not_ready(initialized: bool) -> str:
    reason = "" if initialized else "ContainersNotInitialized"
    return _CONDITIONS_NOT_READY.replace("INIT", "True" if initialized else "False").replace(
        "INITREASON", f'"{reason}"'
    )


def _running(ready: bool) -> str:
    """Every container started and running, ready or not."""
    return f"""
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: {"true" if ready else "false"}
  started: true
  restartCount: 0
  state: {{running: {{startedAt: {{{{ $now | Quote }}}}}}}}
{{{{ end }}}}
phase: Running
"""


def _crash_loop(last_reason: str, exit_code: int) -> str:
    return (
        _NOW
        + _not_ready(True)
        + _INIT_OK
        + f"""
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: false
  started: false
  restartCount: 5
  state:
    waiting: {{reason: CrashLoopBackOff, message: {{{{ printf "back-off 2m40s restarting failed container=%s" .name | Quote }}}}}}
  lastState:
    terminated: {{exitCode: {exit_code}, reason: {last_reason}, startedAt: {{{{ $now | Quote }}}}, finishedAt: {{{{ $now | Quote }}}}}}
{{{{ end }}}}
phase: Running
"""
        + _POD_IP
    )


def failure_stages() -> list[dict[str, Any]]:
    """The Stages that play broken workloads, one per simulated image."""
    image_pull = (
        _NOW
        + _not_ready(True)
        + _INIT_OK
        + """
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  state:
    waiting: {reason: ImagePullBackOff, message: {{ printf "Back-off pulling image %q: not found" .image | Quote }}}
{{ end }}
phase: Pending
"""
        + _POD_IP
    )
    never_ready = _NOW + _not_ready(True) + _INIT_OK + _running(ready=False) + _POD_IP
    init_checksum = (
        _NOW
        + _not_ready(False)
        + """
initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 3
  state:
    waiting: {reason: CrashLoopBackOff, message: {{ printf "back-off 40s restarting failed container=%s" .name | Quote }}}
  lastState:
    terminated:
      exitCode: 1
      reason: Error
      message: "ChecksumMismatch: saved_model.pb has sha256 0f1e... but the manifest lists 9a8b...; the version was changed after it was published"
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  state: {waiting: {reason: PodInitializing}}
{{ end }}
phase: Pending
"""
        + _POD_IP
    )
    train_fail = (
        _NOW
        + """
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  state:
    terminated:
      exitCode: 1
      reason: Error
      message: "TrainingFailed: the entrypoint raised ValueError: loss is NaN at epoch 3"
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: Failed
"""
        + _POD_IP
    )
    trainer_runs = (
        _NOW
        + """
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}"""
        + _running(ready=True)
        + _POD_IP
    )
    trainer_exits = (
        _NOW
        + """
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
{{ end }}
phase: Succeeded
"""
        + _POD_IP
    )
    return [
        _stage("sim-trainer-runs", TRAINER_IMAGE, ["Pending"], trainer_runs),
        _stage(
            "sim-trainer-exits",
            TRAINER_IMAGE,
            ["Running"],
            trainer_exits,
            annotations={TRAINER_EXIT_ANNOTATION: "true"},
        ),
        _stage("sim-crashloop", CRASHLOOP_IMAGE, ["Pending"], _crash_loop("Error", 1)),
        _stage("sim-oomkilled", OOMKILLED_IMAGE, ["Pending"], _crash_loop("OOMKilled", 137)),
        _stage("sim-imagepull", IMAGEPULL_IMAGE, ["Pending"], image_pull),
        _stage("sim-never-ready", NEVER_READY_IMAGE, ["Pending"], never_ready),
        _stage("sim-init-checksum", INIT_CHECKSUM_IMAGE, ["Pending"], init_checksum),
        _stage("sim-train-fail", TRAIN_FAIL_IMAGE, ["Pending"], train_fail, delay_ms=1000),
    ]
