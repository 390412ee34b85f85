"""The Pod Security "restricted" profile, as the securityContext of every pod and container
the operator makes (serving and training). The images run as an unprivileged user (1000) and
write only to their emptyDir volumes, so nothing here needs relaxing."""

from __future__ import annotations

from typing import Any, Final

RUN_AS_USER: Final = 1000
RUN_AS_GROUP: Final = 1000


def pod_security_context() -> dict[str, Any]:
    """For `spec.securityContext`: non-root, the runtime's default seccomp profile, and the
    group that owns mounted volumes so the unprivileged user can write to them."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_GROUP,
        "fsGroup": RUN_AS_GROUP,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """For every container's `securityContext`: no privilege escalation, no capabilities, and
    a read-only root filesystem (scratch space is an emptyDir at /tmp)."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
