"""The identity of the ModelDeployment resource: its API group, version and names."""

from __future__ import annotations

from typing import Final

GROUP: Final = "modelship.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "ModelDeployment"
LIST_KIND: Final = "ModelDeploymentList"
PLURAL: Final = "modeldeployments"
SINGULAR: Final = "modeldeployment"
SHORT_NAMES: Final = ("md", "mdep")
CATEGORIES: Final = ("modelship",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"
