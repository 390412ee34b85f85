"""The ModelDeployment that owns an object, and the labels and metadata every owned object
carries (the names are fixed by the cross-team contract)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from modelship.api import GROUP, KIND, VERSION

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_MODEL: Final = "modelship.io/model"
LABEL_VERSION: Final = "modelship.io/version"
ANNOTATION_DIGEST: Final = "modelship.io/digest"
# Pods of a canary Deployment (spec.rollout.strategy Canary) carry it; stable pods do not.
LABEL_TRACK: Final = "modelship.io/track"
CANARY_TRACK: Final = "canary"

APP: Final = "modelship"
SERVING: Final = "serving"
TRAINING: Final = "training"


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment an object belongs to."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        """The owner reference: deleting the ModelDeployment deletes the object, and the
        object is not deleted before its owner's foreground deletion sees it."""
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def selector_labels(owner: Owner, component: str) -> dict[str, str]:
    """The labels a selector matches on. Never the version: selectors are immutable."""
    return {LABEL_NAME: APP, LABEL_INSTANCE: owner.name, LABEL_COMPONENT: component}


def object_labels(
    owner: Owner, component: str, model: str, version: int | None = None
) -> dict[str, str]:
    """The labels of an owned object (and of its pods)."""
    labels = {
        **selector_labels(owner, component),
        LABEL_MANAGED_BY: APP,
        LABEL_MODEL: model,
    }
    if version is not None:
        labels[LABEL_VERSION] = str(version)
    return labels


def label_selector(labels: Mapping[str, str]) -> str:
    """The string form (`k=v,k=v`) that `status.selector` needs for the scale subresource."""
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def owned_metadata(
    owner: Owner,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`metadata` of an object the ModelDeployment owns, in its namespace."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": dict(labels),
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata
