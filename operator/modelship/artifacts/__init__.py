"""The artifact store: model versions in S3, their manifests, verification and transfers.

The only package that talks to S3. Everything a caller needs is re-exported here. The modules
that do I/O (the S3 client, the store, transfers, SavedModel loading) load on first use of
one of their names, so pure code that reads this package's pure modules (errors, versions,
settings; reconcile/ does) never loads them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.layout import next_version, safe_relative_path, split_version_key
from modelship.artifacts.manifest import (
    MANIFEST_NAME,
    DerivedFrom,
    Manifest,
    ManifestFile,
    Signature,
    TensorSpec,
    manifest_digest,
)
from modelship.artifacts.settings import S3Settings
from modelship.artifacts.uri import StorageUri, parse_storage_uri
from modelship.artifacts.versions import VersionInfo, VersionState, assess_version, latest_complete

if TYPE_CHECKING:
    from modelship.artifacts.s3 import make_s3_client
    from modelship.artifacts.savedmodel import ModelInfo, inspect_saved_model
    from modelship.artifacts.store import ArtifactStore
    from modelship.artifacts.transfer import TransferProgress, TransferTuning

_LOADED_ON_USE = {
    "make_s3_client": "modelship.artifacts.s3",
    "ModelInfo": "modelship.artifacts.savedmodel",
    "inspect_saved_model": "modelship.artifacts.savedmodel",
    "ArtifactStore": "modelship.artifacts.store",
    "TransferProgress": "modelship.artifacts.transfer",
    "TransferTuning": "modelship.artifacts.transfer",
}


def __getattr__(name: str) -> Any:
    module = _LOADED_ON_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "MANIFEST_NAME",
    "ArtifactError",
    "ArtifactStore",
    "DerivedFrom",
    "Manifest",
    "ManifestFile",
    "ModelInfo",
    "S3Settings",
    "Signature",
    "StorageUri",
    "TensorSpec",
    "TransferProgress",
    "TransferTuning",
    "VersionInfo",
    "VersionState",
    "assess_version",
    "inspect_saved_model",
    "latest_complete",
    "make_s3_client",
    "manifest_digest",
    "next_version",
    "parse_storage_uri",
    "safe_relative_path",
    "split_version_key",
]
