"""The one place that maps GPU settings to pod fields: the extended resource a container
requests, the toleration for the GPU nodes' taint, and the product label to select.

Serving Deployments and training Jobs both call `gpu_pod_fields`; nothing else writes GPU
resources, tolerations or the product selector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from modelship.api import GpuSpec

# The taint the NVIDIA GPU operator (and the test bed's fake GPU nodes) put on GPU nodes,
# MIG-partitioned ones included: a pod that asks for any GPU resource must tolerate it.
GPU_TAINT_KEY: Final = "nvidia.com/gpu"
# The node label GPU feature discovery sets, e.g. "NVIDIA-H100-80GB-HBM3".
GPU_PRODUCT_LABEL: Final = "nvidia.com/gpu.product"

GPU_TOLERATION: Final[Mapping[str, str]] = {
    "key": GPU_TAINT_KEY,
    "operator": "Exists",
    "effect": "NoSchedule",
}


@dataclass(frozen=True)
class GpuPodFields:
    """The user's resources, nodeSelector and tolerations with the GPU's added."""

    resources: dict[str, Any]
    """For the container that uses the GPU (a ResourceRequirements)."""
    node_selector: dict[str, str]
    """For the pod spec; empty means leave `nodeSelector` out."""
    tolerations: list[dict[str, Any]]
    """For the pod spec; empty means leave `tolerations` out."""


def gpu_pod_fields(
    gpu: GpuSpec,
    *,
    resources: Mapping[str, Any] | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] = (),
) -> GpuPodFields:
    """Merge the GPU settings into the user's pod fields, without duplicates.

    A count of 0 adds nothing GPU-related. Otherwise the GPU resource (`nvidia.com/gpu` or a
    MIG profile such as `nvidia.com/mig-1g.10gb`) is set in both requests and limits (the
    device plugin's extended resources cannot be overcommitted, so Kubernetes wants both equal),
    the GPU taint is tolerated unless a user toleration already covers it, and the product
    label is selected when a product is named. Where the user's fields name the same resource
    or product label, the GPU settings win: `spec.serving.gpu` is the one place to say it.
    """
    merged_resources = {
        key: dict(value) if isinstance(value, Mapping) else value
        for key, value in (resources or {}).items()
    }
    merged_selector = dict(node_selector or {})
    merged_tolerations: list[dict[str, Any]] = []
    for toleration in tolerations:
        if dict(toleration) not in merged_tolerations:
            merged_tolerations.append(dict(toleration))

    if gpu.count > 0:
        quantity = str(gpu.count)
        for section in ("requests", "limits"):
            merged_resources[section] = {
                **merged_resources.get(section, {}),
                gpu.resource_name: quantity,
            }
        if not any(_tolerates_gpu_taint(t) for t in merged_tolerations):
            merged_tolerations.append(dict(GPU_TOLERATION))
        if gpu.product:
            merged_selector[GPU_PRODUCT_LABEL] = gpu.product

    return GpuPodFields(
        resources=merged_resources,
        node_selector=merged_selector,
        tolerations=merged_tolerations,
    )


def _tolerates_gpu_taint(toleration: Mapping[str, Any]) -> bool:
    """Whether a toleration already tolerates the GPU taint whatever its value (an `Equal`
    toleration is not enough: the taint's value differs between installations)."""
    if toleration.get("operator") != "Exists":
        return False
    key = toleration.get("key")
    return key in (None, "", GPU_TAINT_KEY) and toleration.get("effect") in (
        None,
        "",
        "NoSchedule",
    )
