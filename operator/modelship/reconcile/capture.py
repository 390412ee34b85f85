"""What spec.monitoring.capture adds to the serving pods: the server's --capture-* flags, and
the environment it needs (S3 access and the mask key), every credential by `secretKeyRef` to
the user's Secret, never a value. The training Job gets the captures' location
(`capture_location_env`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.capture import ENV_CAPTURE_URI, ENV_MASK_KEY, capture_segment
from modelship.api.duration import format_duration
from modelship.api.spec import CaptureSpec, capture_bytes_per_hour
from modelship.reconcile.storage import storage_env


def capture_of(spec: ModelDeploymentSpec) -> CaptureSpec | None:
    return spec.monitoring.capture if spec.monitoring is not None else None


def capture_args(spec: ModelDeploymentSpec) -> list[str]:
    """The server's --capture-* flags (none when capture is off)."""
    capture = capture_of(spec)
    if capture is None:
        return []
    args = [
        "--capture-storage-uri",
        capture.storage_uri,
        "--capture-sample-rate",
        repr(capture.sample_rate),
    ]
    budget = capture_bytes_per_hour(capture)
    if budget is not None:
        args += ["--capture-max-bytes-per-hour", str(budget)]
    if capture.exclude:
        args += ["--capture-exclude", ",".join(capture.exclude)]
    if capture.mask is not None and capture.mask.inputs:
        args += ["--capture-mask", ",".join(capture.mask.inputs)]
    if capture.sse is not None:
        args += ["--capture-sse", capture.sse.type]
        if capture.sse.kms_key_id:
            args += ["--capture-sse-kms-key-id", capture.sse.kms_key_id]
    if capture.retention is not None:
        args += ["--capture-retention", format_duration(capture.retention)]
    return args


def capture_env(spec: ModelDeploymentSpec) -> list[dict[str, Any]]:
    """S3 access for the captures (capture.secretRef, else spec.storage's) and the mask key,
    by reference."""
    capture = capture_of(spec)
    if capture is None:
        return []
    storage = dataclasses.replace(
        spec.storage, secret_ref=capture.secret_ref or spec.storage.secret_ref
    )
    env = storage_env(storage)
    if capture.mask is not None and capture.mask.inputs:
        ref = capture.mask.key_secret_ref
        env.append(
            {
                "name": ENV_MASK_KEY,
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    return env


def capture_location(spec: ModelDeploymentSpec, model: str) -> str | None:
    """Where this model's captured requests are (the server writes under
    <storageUri>/<model>/<version>/...); None when capture is off."""
    capture = capture_of(spec)
    if capture is None:
        return None
    return f"{capture.storage_uri.rstrip('/')}/{capture_segment(model)}"


def capture_location_env(spec: ModelDeploymentSpec, model: str) -> list[dict[str, Any]]:
    """The training run's pointer to the captured requests (none when capture is off)."""
    location = capture_location(spec, model)
    return [] if location is None else [{"name": ENV_CAPTURE_URI, "value": location}]
