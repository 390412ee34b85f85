"""Where the test bed's binaries live, and how they get built.

The binaries are built from the Go module proxy at pinned versions by `build-testbed.sh`
into a cache outside the checkout (default ~/.cache/modelship), once per machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

COMPONENT_BINARIES: dict[str, tuple[str, ...]] = {
    "kubernetes": ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
    "node": ("kubelet", "kube-proxy"),
    "etcd": ("etcd",),
    "kwok": ("kwok", "kwokctl"),
    "versitygw": ("versitygw",),
    "helm": ("helm",),
    "prometheus": ("prometheus",),
}


class TestbedError(RuntimeError):
    """The sandbox cannot be built or started; the message says what is missing."""

    __test__ = False  # not a pytest test class, despite the name


def cache_dir() -> Path:
    return Path(os.environ.get("MODELSHIP_CACHE", Path.home() / ".cache" / "modelship"))


def bin_dir() -> Path:
    return cache_dir() / "bin"


def binary(name: str) -> Path:
    """The path of one built binary; raises TestbedError naming the build command if absent."""
    path = bin_dir() / name
    if not path.exists():
        raise TestbedError(
            f"the test bed binary '{name}' is not built yet; run `modelship dev build` "
            f"(it needs Go and the Go module proxy)"
        )
    return path


def missing_components(components: tuple[str, ...] = tuple(COMPONENT_BINARIES)) -> list[str]:
    return [
        c for c in components if not all((bin_dir() / b).exists() for b in COMPONENT_BINARIES[c])
    ]


def ensure_built(components: tuple[str, ...] = tuple(COMPONENT_BINARIES)) -> None:
    """Builds whichever components are not cached yet (a no-op when all are)."""
    missing = missing_components(components)
    if not missing:
        return
    if shutil.which("go") is None:
        raise TestbedError(
            "Go is not installed, and the test bed binaries "
            f"({', '.join(missing)}) are built from the Go module proxy: install Go 1.25+ first"
        )
    script = resources.files("modelship.dev").joinpath("build-testbed.sh")
    with resources.as_file(script) as path:
        result = subprocess.run(["bash", str(path), *missing], check=False)
    if result.returncode != 0:
        raise TestbedError(
            f"building the test bed ({', '.join(missing)}) failed with exit code "
            f"{result.returncode}; the lines above say which step and why"
        )
