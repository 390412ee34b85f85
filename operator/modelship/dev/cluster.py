"""The simulated GPU cluster: a real control plane (etcd, kube-apiserver, controller-manager,
scheduler) started by kwokctl from the cached binaries, with kwok playing nodes and pods."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelship.dev import node, simulation
from modelship.dev.binaries import TestbedError, binary, cache_dir

KUBE_VERSION = os.environ.get("MODELSHIP_K8S_VERSION", "v1.36.3")
KWOK_VERSION = os.environ.get("MODELSHIP_KWOK_VERSION", "v0.8.0")


def kwok_workdir() -> Path:
    return cache_dir() / "kwok"


def _kwokctl_env() -> dict[str, str]:
    return {**os.environ, "KWOK_WORKDIR": str(kwok_workdir())}


def stock_stages() -> list[dict[str, Any]]:
    """kwok's own Stages (copied from its module by the build), pod ones minus simulated images."""
    folder = cache_dir() / f"kwok-stages-{KWOK_VERSION}"
    if not folder.is_dir():
        raise TestbedError(
            f"kwok's stock Stages are missing from {folder}; run `modelship dev build`"
        )
    stages = [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]
    return [
        simulation.exclude_simulated(s)
        if s["metadata"]["name"].startswith("pod-ready")
        or s["metadata"]["name"].startswith("pod-complete")
        else s
        for s in stages
    ]


def components_patches(pki_dir: Path, audit_dir: Path | None = None) -> list[dict[str, Any]]:
    audit = {}
    if audit_dir is not None:
        audit = {
            "audit-policy-file": str(audit_dir / "audit-policy.yaml"),
            "audit-log-path": str(audit_dir / "audit.log"),
        }
    return [
        # Faster node status and quick pod GC keep the test bed responsive.
        {"name": "etcd", "extraArgs": [{"key": "unsafe-no-fsync", "value": "true"}]},
        {
            "name": "kube-apiserver",
            "extraArgs": _args(
                {
                    "service-cluster-ip-range": node.SERVICE_CIDR,
                    # Pods reach the API server through the relay on the bridge.
                    "advertise-address": node.BRIDGE_IP,
                    # For logs, exec and port-forward through the real node's kubelet.
                    "kubelet-client-certificate": str(pki_dir / "admin.crt"),
                    "kubelet-client-key": str(pki_dir / "admin.key"),
                    "kubelet-preferred-address-types": "InternalIP",
                    **audit,
                }
            ),
        },
        {
            "name": "kwok-controller",
            "extraArgs": _args(
                {
                    # Without this kwok would also play the real node's status.
                    "manage-all-nodes": "false",
                    "manage-nodes-with-annotation-selector": "kwok.x-k8s.io/node=fake",
                    "cidr": node.SIMULATED_POD_CIDR,
                }
            ),
        },
    ]


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    # One line per request, when its response is complete; watches (long streams) left out.
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {"level": "None", "verbs": ["watch"]},
        {"level": "None", "resources": [{"group": "coordination.k8s.io"}]},
        {"level": "None", "nonResourceURLs": ["*"]},
        {"level": "Metadata"},
    ],
}
"""Who made which request (user, user agent, verb, resource), for a bench that must attribute
the API server's counts to a client; node and leader Leases, renewed every few seconds, and
non-resource paths (/metrics, /healthz) are left out."""


def kwokctl_configuration(pki_dir: Path, audit_dir: Path | None = None) -> list[dict[str, Any]]:
    """kwokctl's configuration: local binaries, loopback only, RBAC and admission on, and the
    settings a real node beside kwok's needs (modelship.dev.node): the API server advertised
    on the sandbox's bridge and able to reach a kubelet, distinct Service and simulated pod
    ranges, and kwok managing only the nodes annotated as fake."""
    options = {
        "runtime": "binary",
        "bindAddress": "127.0.0.1",
        "kubeVersion": KUBE_VERSION,
        "kubeApiserverBinary": str(binary("kube-apiserver")),
        "kubeControllerManagerBinary": str(binary("kube-controller-manager")),
        "kubeSchedulerBinary": str(binary("kube-scheduler")),
        "kubectlBinary": str(binary("kubectl")),
        "kwokControllerBinary": str(binary("kwok")),
        "etcdBinary": str(binary("etcd")),
        "kubeAuthorization": True,
        "kubeAdmission": True,
        "securePort": True,
        "disableQPSLimits": True,
        # In-cluster clients (the operator's pod) verify the API server by its Service IP.
        "kubeApiserverCertSANs": [node.KUBERNETES_SERVICE_IP, node.BRIDGE_IP],
    }
    config = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": options,
        "componentsPatches": components_patches(pki_dir, audit_dir),
    }
    return [config, *stock_stages(), *simulation.failure_stages()]


def _args(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in values.items()]


def kubectl(
    kubeconfig: Path,
    *args: str,
    input: str | None = None,
    check: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Runs the test bed's kubectl against `kubeconfig`; raises TestbedError on failure when
    `check` is set, with kubectl's own message."""
    result = subprocess.run(
        [str(binary("kubectl")), "--kubeconfig", str(kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise TestbedError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def wait_established(kubeconfig: Path, crd: str, timeout: float = 60) -> None:
    """Waits until the CustomResourceDefinition `crd` is Established. `kubectl wait
    --for=condition=Established` fails outright ("conditions accessor error") when it looks
    before the API server wrote the CRD's first status, so the condition is polled instead."""
    jsonpath = '{.status.conditions[?(@.type=="Established")].status}'
    deadline = time.monotonic() + timeout
    while True:
        found = kubectl(kubeconfig, "get", "crd", crd, "-o", f"jsonpath={jsonpath}", check=False)
        if found.returncode == 0 and found.stdout.strip() == "True":
            return
        if time.monotonic() > deadline:
            raise TestbedError(
                f"the CRD {crd} was not Established within {timeout:g}s: "
                f"{(found.stderr or found.stdout).strip() or 'no condition yet'}"
            )
        time.sleep(0.2)


@dataclass(frozen=True)
class Cluster:
    """One kwokctl cluster; `kubeconfig` is an admin kubeconfig on 127.0.0.1. With `audit`,
    the API server writes every request but watches to `audit_log` (`AUDIT_POLICY`)."""

    name: str
    audit: bool = False

    @property
    def workdir(self) -> Path:
        return kwok_workdir() / "clusters" / self.name

    @property
    def audit_dir(self) -> Path:
        return kwok_workdir() / f"{self.name}.audit"

    @property
    def audit_log(self) -> Path:
        return self.audit_dir / "audit.log"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig.yaml"

    def exists(self) -> bool:
        return self.kubeconfig.exists()

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return kubectl(self.kubeconfig, *args, input=input, check=check, timeout=timeout)

    def create(self, timeout: float = 180) -> None:
        """Starts the control plane and kwok, then adds the nodes and waits for them Ready."""
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        config_file = kwok_workdir() / f"{self.name}.kwokctl.yaml"
        audit_dir = None
        if self.audit:
            audit_dir = self.audit_dir
            audit_dir.mkdir(parents=True, exist_ok=True)
            (audit_dir / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
        config_file.write_text(
            yaml.safe_dump_all(
                kwokctl_configuration(self.workdir / "pki", audit_dir), sort_keys=False
            )
        )
        result = subprocess.run(
            [
                str(binary("kwokctl")),
                "create",
                "cluster",
                "--name",
                self.name,
                "--config",
                str(config_file),
                "--wait",
                f"{int(timeout)}s",
                "--quiet-pull",
            ],
            env=_kwokctl_env(),
            capture_output=True,
            text=True,
            timeout=timeout + 60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise TestbedError(
                f"kwokctl could not create cluster {self.name}:\n{result.stdout[-3000:]}"
                f"\n{result.stderr[-3000:]}"
            )
        self.apply_objects(simulation.default_nodes())
        self.wait_nodes_ready(len(simulation.default_nodes()), timeout=60)

    def apply_objects(self, objects: list[dict[str, Any]]) -> None:
        self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            input=yaml.safe_dump_all(objects),
        )

    def wait_nodes_ready(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            nodes = json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"]
            ready = [
                n
                for n in nodes
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in n.get("status", {}).get("conditions", [])
                )
            ]
            if len(ready) >= count:
                return
            if time.monotonic() > deadline:
                raise TestbedError(f"only {len(ready)}/{count} nodes became Ready in {timeout}s")
            time.sleep(0.5)

    def delete(self) -> None:
        subprocess.run(
            [str(binary("kwokctl")), "delete", "cluster", "--name", self.name],
            env=_kwokctl_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        (kwok_workdir() / f"{self.name}.kwokctl.yaml").unlink(missing_ok=True)
        shutil.rmtree(self.audit_dir, ignore_errors=True)

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    def apiserver_port(self) -> int:
        """The API server's port on 127.0.0.1, from the admin kubeconfig."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        server = str(config["clusters"][0]["cluster"]["server"])
        return int(server.rsplit(":", 1)[1].rstrip("/"))

    def component_pids(self) -> dict[str, int]:
        """The processes kwokctl started for this cluster, by component name."""
        pids: dict[str, int] = {}
        for pid_file in (self.workdir / "pids").glob("*.pid"):
            try:
                pids[pid_file.stem] = int(pid_file.read_text().strip())
            except ValueError:
                continue
        return pids

    def dead_components(self) -> list[str]:
        dead = []
        for component, pid in self.component_pids().items():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                dead.append(component)
            except PermissionError:
                continue
        return sorted(dead)
