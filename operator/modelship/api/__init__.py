"""The ModelDeployment API (modelship.io/v1alpha1): the spec and status types, parsed once
into typed immutable objects, and the source the CRD is generated from.

Pure: no I/O. `python -m modelship.api.crd` prints the CRD.
"""

from modelship.api.duration import format_duration, parse_duration
from modelship.api.encode import to_resource_dict
from modelship.api.errors import SpecError
from modelship.api.parse import parse_spec
from modelship.api.resource import (
    API_VERSION,
    CATEGORIES,
    CRD_NAME,
    GROUP,
    KIND,
    LIST_KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
)
from modelship.api.spec import (
    BatchingSpec,
    CanaryStep,
    GateSpec,
    GpuSpec,
    ModelDeploymentSpec,
    ModelSpec,
    OptimizeSpec,
    RolloutSpec,
    SecretRef,
    ServingSpec,
    StorageSpec,
    TrainingSpec,
)
from modelship.api.status import (
    ARTIFACT_READY,
    READY,
    RECONCILING,
    STALLED,
    Condition,
    ModelDeploymentStatus,
    OptimizationStatus,
    Phase,
    RejectedVersion,
    RolloutPhase,
    RolloutStatus,
    TrainingStatus,
    VersionStatus,
    find_condition,
    set_condition,
)

__all__ = [
    "API_VERSION",
    "ARTIFACT_READY",
    "CATEGORIES",
    "CRD_NAME",
    "GROUP",
    "KIND",
    "LIST_KIND",
    "PLURAL",
    "READY",
    "RECONCILING",
    "SHORT_NAMES",
    "SINGULAR",
    "STALLED",
    "VERSION",
    "BatchingSpec",
    "CanaryStep",
    "Condition",
    "GateSpec",
    "GpuSpec",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ModelSpec",
    "OptimizationStatus",
    "OptimizeSpec",
    "Phase",
    "RejectedVersion",
    "RolloutPhase",
    "RolloutSpec",
    "RolloutStatus",
    "SecretRef",
    "ServingSpec",
    "SpecError",
    "StorageSpec",
    "TrainingSpec",
    "TrainingStatus",
    "VersionStatus",
    "find_condition",
    "format_duration",
    "parse_duration",
    "parse_spec",
    "set_condition",
    "to_resource_dict",
]
