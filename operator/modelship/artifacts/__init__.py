"""The artifact store: model versions in S3, their manifests, verification and transfers.

The only package that talks to S3. Everything a caller needs is re-exported here.
"""

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
from modelship.artifacts.s3 import S3Settings, make_s3_client
from modelship.artifacts.savedmodel import ModelInfo, inspect_saved_model
from modelship.artifacts.store import ArtifactStore
from modelship.artifacts.transfer import TransferProgress, TransferTuning
from modelship.artifacts.uri import StorageUri, parse_storage_uri
from modelship.artifacts.versions import VersionInfo, VersionState, assess_version, latest_complete

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
