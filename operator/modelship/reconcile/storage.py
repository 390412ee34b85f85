"""How S3 access reaches pods and the operator, always by reference to the user's Secret:
pods get `secretKeyRef` env vars (never the values), and the operator turns the Secret it
read into S3Settings for the artifact store (or the finding that it cannot)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from modelship.api import StorageSpec
from modelship.api.reasons import (
    SECRET_KEY_NOT_FOUND,
    SECRET_NOT_FOUND,
)
from modelship.api.trainer import (
    ENV_S3_ACCESS_KEY_ID,
    ENV_S3_ENDPOINT,
    ENV_S3_REGION,
    ENV_S3_SECRET_ACCESS_KEY,
)
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.settings import S3Settings

ENV_ENDPOINT: Final = ENV_S3_ENDPOINT
ENV_REGION: Final = ENV_S3_REGION
ENV_ACCESS_KEY_ID: Final = ENV_S3_ACCESS_KEY_ID
ENV_SECRET_ACCESS_KEY: Final = ENV_S3_SECRET_ACCESS_KEY


def storage_env(storage: StorageSpec) -> list[dict[str, Any]]:
    """The env vars `modelship pull` / `modelship train` read. Credentials are references to
    `spec.storage.secretRef`; without one the pod uses its own identity (e.g. IRSA)."""
    env: list[dict[str, Any]] = []
    if storage.endpoint:
        env.append({"name": ENV_ENDPOINT, "value": storage.endpoint})
    if storage.region:
        env.append({"name": ENV_REGION, "value": storage.region})
    ref = storage.secret_ref
    if ref is not None:
        for name, key in (
            (ENV_ACCESS_KEY_ID, ref.access_key_id_key),
            (ENV_SECRET_ACCESS_KEY, ref.secret_access_key_key),
        ):
            env.append(
                {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": key}}}
            )
    return env


def storage_settings(
    storage: StorageSpec, secret: Mapping[str, Any] | None, *, namespace: str
) -> S3Settings:
    """S3Settings for the operator's own listing, from `spec.storage` and the Secret object
    the controller read (None when it does not exist). Raises ArtifactError SecretNotFound or
    SecretKeyNotFound; the messages name the Secret and key, never a value."""
    ref = storage.secret_ref
    if ref is None:
        return S3Settings(endpoint=storage.endpoint, region=storage.region)
    if secret is None:
        raise ArtifactError(
            SECRET_NOT_FOUND,
            f"Secret {namespace}/{ref.name} named in spec.storage.secretRef does not exist; "
            f"create it with the keys {ref.access_key_id_key} and {ref.secret_access_key_key}.",
        )
    data = secret.get("data") or {}
    values = []
    for key in (ref.access_key_id_key, ref.secret_access_key_key):
        value = _decoded(data.get(key))
        if not value:
            raise ArtifactError(
                SECRET_KEY_NOT_FOUND,
                f"Secret {namespace}/{ref.name} has no (or an empty) key {key}; add it, or name "
                "the right key in spec.storage.secretRef.",
            )
        values.append(value)
    return S3Settings(
        endpoint=storage.endpoint,
        region=storage.region,
        access_key_id=values[0],
        secret_access_key=values[1],
    )


def _decoded(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        return None
