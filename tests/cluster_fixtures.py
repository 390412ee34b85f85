"""Fixtures for the real Kubernetes test bed: a session-wide cluster, a namespace per test,
and the operator running as a background process for a test.

MODELSHIP_TEST_KUBECONFIG points the same tests at an existing cluster instead of starting
the sandbox's simulated one (the cluster then needs the CRDs from crds/ applied, and GPU
nodes for the GPU tests).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.dev.binaries import TestbedError
from modelship.dev.cluster import Cluster, kubectl, wait_established
from modelship.dev.sandbox import crds_dir


@dataclass
class KubeCluster:
    """A running cluster reachable through `kubeconfig`, with kubectl and a Python client."""

    kubeconfig: Path
    cluster: Cluster | None = None
    _api: Any = field(default=None, repr=False)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        try:
            return kubectl(self.kubeconfig, *args, input=input, check=check, timeout=timeout)
        except TestbedError as error:
            raise AssertionError(str(error)) from None

    def apply(
        self, *objects: dict[str, Any], namespace: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=yaml.safe_dump_all(objects), check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
        result = self.kubectl(*args, check=False)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def list(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        return json.loads(self.kubectl(*args).stdout)["items"]  # type: ignore[no-any-return]

    def kubeconfig_for_serviceaccount(self, namespace: str, name: str, path: Path) -> Path:
        """A kubeconfig that authenticates only with a token of that ServiceAccount, so the
        API server's real authorizer (RBAC) judges every request made with it."""
        token = self.kubectl(
            "create", "token", name, "-n", namespace, "--duration=2h"
        ).stdout.strip()
        admin = yaml.safe_load(self.kubeconfig.read_text())
        context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])[
            "context"
        ]
        cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [cluster],
                    "users": [{"name": name, "user": {"token": token}}],
                    "contexts": [
                        {
                            "name": name,
                            "context": {
                                "cluster": cluster["name"],
                                "user": name,
                                "namespace": namespace,
                            },
                        }
                    ],
                    "current-context": name,
                }
            )
        )
        path.chmod(0o600)
        return path

    @property
    def api(self) -> Any:
        """A kubernetes.client.ApiClient for this cluster."""
        if self._api is None:
            from kubernetes import config

            self._api = config.new_client_from_config(config_file=str(self.kubeconfig))
        return self._api


def wait_for(
    condition: Callable[[], Any],
    timeout: float = 60,
    interval: float = 0.25,
    what: str = "condition",
) -> Any:
    """Polls until `condition()` returns something truthy; fails with `what` after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def install_crds(cluster: KubeCluster) -> None:
    folder = crds_dir()
    if folder is None or not list(folder.glob("*.yaml")):
        return
    for path in sorted(folder.glob("*.yaml")):
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                wait_established(cluster.kubeconfig, doc["metadata"]["name"], timeout=30)


@pytest.fixture(scope="session")
def cluster() -> Iterator[KubeCluster]:
    """A real control plane (simulated nodes and pods) for the whole session, CRDs installed."""
    external = os.environ.get("MODELSHIP_TEST_KUBECONFIG")
    if external:
        test_cluster = KubeCluster(Path(external))
        install_crds(test_cluster)
        yield test_cluster
        return
    sim = Cluster(f"test-{os.getpid()}")
    sim.create()
    try:
        test_cluster = KubeCluster(sim.kubeconfig, cluster=sim)
        install_crds(test_cluster)
        yield test_cluster
    finally:
        sim.delete()


@pytest.fixture
def namespace(cluster: KubeCluster) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"t-{secrets.token_hex(4)}"
    cluster.kubectl("create", "namespace", name)
    # Pods are refused until the controller-manager has made the namespace's default
    # ServiceAccount; on a busy machine that takes a moment.
    wait_for(
        lambda: cluster.get("serviceaccount", "default", name),
        timeout=60,
        what=f"the default ServiceAccount of {name}",
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@dataclass
class OperatorProcess:
    """`modelship run` as a real background process; its output goes to `log`."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def run_operator(cluster: KubeCluster, tmp_path: Path) -> Iterator[Callable[..., OperatorProcess]]:
    """Starts the operator for a test: `run_operator("--namespace", ns)`; stopped afterwards."""
    started: list[OperatorProcess] = []

    def start(
        *args: str, kubeconfig: Path | None = None, env: dict[str, str] | None = None
    ) -> OperatorProcess:
        log = tmp_path / f"operator-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "modelship", "run", *args],
                env={
                    **os.environ,
                    "KUBECONFIG": str(kubeconfig or cluster.kubeconfig),
                    **(env or {}),
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        handle = OperatorProcess(process, log)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()
