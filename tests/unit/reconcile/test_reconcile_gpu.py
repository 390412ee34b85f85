"""The one GPU mapping: resources, the taint's toleration and the product selector."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.api import GpuSpec
from modelship.reconcile.gpu import GPU_TOLERATION, gpu_pod_fields

TOLERATE_GPU = dict(GPU_TOLERATION)
SPOT = {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
H100 = "NVIDIA-H100-80GB-HBM3"


@pytest.mark.parametrize(
    ("gpu", "user", "resources", "selector", "tolerations"),
    [
        pytest.param(GpuSpec(count=0), {}, {}, {}, [], id="cpu-only-adds-nothing"),
        pytest.param(
            GpuSpec(count=0),
            {"resources": {"limits": {"memory": "1Gi"}}, "tolerations": [SPOT]},
            {"limits": {"memory": "1Gi"}},
            {},
            [SPOT],
            id="cpu-only-keeps-user-fields",
        ),
        pytest.param(
            GpuSpec(count=1),
            {},
            {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
            {},
            [TOLERATE_GPU],
            id="one-gpu",
        ),
        pytest.param(
            GpuSpec(count=2, product=H100),
            {},
            {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}},
            {"nvidia.com/gpu.product": H100},
            [TOLERATE_GPU],
            id="product-selects-node-label",
        ),
        pytest.param(
            GpuSpec(count=1, resource_name="nvidia.com/mig-1g.10gb"),
            {},
            {
                "requests": {"nvidia.com/mig-1g.10gb": "1"},
                "limits": {"nvidia.com/mig-1g.10gb": "1"},
            },
            {},
            [TOLERATE_GPU],
            id="mig-profile",
        ),
        pytest.param(
            GpuSpec(count=1, product=H100),
            {
                "resources": {"requests": {"cpu": "2"}, "limits": {"memory": "8Gi"}},
                "node_selector": {"zone": "a"},
                "tolerations": [SPOT, SPOT],
            },
            {
                "requests": {"cpu": "2", "nvidia.com/gpu": "1"},
                "limits": {"memory": "8Gi", "nvidia.com/gpu": "1"},
            },
            {"zone": "a", "nvidia.com/gpu.product": H100},
            [SPOT, TOLERATE_GPU],
            id="merges-with-user-fields-without-duplicates",
        ),
        pytest.param(
            GpuSpec(count=1),
            {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]},
            {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
            {},
            [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            id="user-toleration-already-covers-taint",
        ),
        pytest.param(
            GpuSpec(count=1),
            {"tolerations": [{"operator": "Exists"}]},
            {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
            {},
            [{"operator": "Exists"}],
            id="tolerate-everything-covers-taint",
        ),
        pytest.param(
            GpuSpec(count=1),
            {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "x"}]},
            {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
            {},
            [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "x"}, TOLERATE_GPU],
            id="equal-toleration-is-not-enough",
        ),
    ],
)
def test_gpu_pod_fields(
    gpu: GpuSpec,
    user: dict[str, Any],
    resources: dict[str, Any],
    selector: dict[str, str],
    tolerations: list[dict[str, Any]],
) -> None:
    fields = gpu_pod_fields(gpu, **user)
    assert fields.resources == resources
    assert fields.node_selector == selector
    assert fields.tolerations == tolerations


def test_user_fields_are_not_modified() -> None:
    resources = {"requests": {"cpu": "1"}}
    tolerations = [SPOT]
    selector = {"zone": "a"}
    gpu_pod_fields(
        GpuSpec(count=1, product=H100),
        resources=resources,
        node_selector=selector,
        tolerations=tolerations,
    )
    assert resources == {"requests": {"cpu": "1"}}
    assert tolerations == [SPOT]
    assert selector == {"zone": "a"}
