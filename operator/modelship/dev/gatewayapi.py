"""The Gateway API CRDs (standard channel) for the test bed, taken from the Go module proxy at a
pinned version (`go mod download sigs.k8s.io/gateway-api@<version>`, GOPROXY as the
environment sets it) and cached outside the checkout like the test bed's binaries, so a second
run needs neither Go nor the proxy. Only the CRDs: no Gateway controller runs in the test bed
(the HTTPRoute's weights are the contract; any Gateway API implementation applies them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from modelship.dev.binaries import TestbedError, cache_dir
from modelship.dev.cluster import kubectl, wait_established

GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_API_VERSION = os.environ.get("MODELSHIP_GATEWAY_API_VERSION", "v1.4.0")
_STANDARD = Path("config") / "crd" / "standard"


def gateway_api_crds(version: str = GATEWAY_API_VERSION) -> list[Path]:
    """The standard channel's CRD files, from the cache or else from the module proxy."""
    folder = cache_dir() / "crds" / f"gateway-api-{version}"
    cached = sorted(folder.glob("*.yaml"))
    if cached:
        return cached
    go = shutil.which("go")
    if go is None:
        raise TestbedError(
            f"the Gateway API CRDs come from the Go module {GATEWAY_API_MODULE}@{version}: "
            "install Go 1.25+ first"
        )
    with tempfile.TemporaryDirectory() as work:
        # Outside any module, so -mod=mod only keeps a GOFLAGS=-mod=vendor from interfering.
        result = subprocess.run(
            [go, "mod", "download", "-json", f"{GATEWAY_API_MODULE}@{version}"],
            cwd=work,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if result.returncode != 0:
        raise TestbedError(
            f"go mod download {GATEWAY_API_MODULE}@{version} failed: "
            f"{(result.stderr or result.stdout).strip()}"
        )
    source = Path(json.loads(result.stdout)["Dir"]) / _STANDARD
    files = sorted(source.glob("gateway.networking.k8s.io_*.yaml"))
    if not files:
        raise TestbedError(f"{GATEWAY_API_MODULE}@{version} has no CRDs under {_STANDARD}")
    # Copied whole into a fresh folder, then renamed: a half-copied cache is never used.
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    for path in files:
        shutil.copyfile(path, staging / path.name)
    try:
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another run cached it first
    return sorted(folder.glob("*.yaml"))


def install_gateway_api(kubeconfig: Path, version: str = GATEWAY_API_VERSION) -> None:
    """Applies the standard channel's CRDs (server-side: they are larger than the
    last-applied annotation allows) and waits until the API server serves them."""
    files = gateway_api_crds(version)
    for path in files:
        kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(path))
    for path in files:
        name = path.stem.split("_", 1)[1] + "." + path.stem.split("_", 1)[0]
        wait_established(kubeconfig, name)
