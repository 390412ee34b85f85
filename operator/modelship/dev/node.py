"""The sandbox's one real node: kubelet, kube-proxy, containerd, runc and a CNI bridge on this
machine, joined to the simulated cluster beside kwok's nodes, running the locally built images.

Pods there really run (on CPU). The node is tainted and labelled so only pods that ask land
on it, and it advertises a small fake `nvidia.com/gpu` capacity with its own product label, so
serving and training pods that request a GPU go through the whole GPU scheduling path.

What it changes on the machine, all undone by `stop()` (and checked by `leftovers()`):
- a bridge (BRIDGE, BRIDGE_IP) for the pods, with routes sending the pod, Service and kwok pod
  ranges to it, so nothing addressed to them can leave through the machine's own interface;
- `net.ipv4.ip_forward=1` (pod -> ClusterIP -> pod needs it), with a FORWARD chain that drops
  everything that does not enter and leave through the bridge;
- the iptables chains kube-proxy and kubelet write;
- bind mounts over three kernel settings kubelet insists on writing (vm.overcommit_memory,
  kernel.panic, kernel.panic_on_oops are not namespaced: writing them would change the VM);
- processes: containerd (its own root and socket), kubelet, kube-proxy, and a relay that puts
  the API server and the S3 server (both on 127.0.0.1) on the bridge address for pods.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from modelship.dev.binaries import TestbedError, binary, cache_dir
from modelship.dev.host import mount_points, terminate, unmount_under

NODE_NAME = "real-node"
BRIDGE = "msbr0"
BRIDGE_IP = "10.88.0.1"
POD_CIDR = "10.88.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
# kwok's simulated pods get addresses from here; routed to the bridge too, so a Service whose
# endpoints are simulated pods can never send a packet off this machine.
SIMULATED_POD_CIDR = "10.0.0.0/16"
# What only pods that ask for the real node tolerate and select.
REAL_NODE_TAINT = {"key": "modelship.io/real-node", "value": "true", "effect": "NoSchedule"}
REAL_NODE_LABEL = "modelship.io/real-node"
GPU_PRODUCT = "Sandbox-CPU"  # the nvidia.com/gpu.product of the real node (no device behind it)
FAKE_GPUS = 4
RUN_DIR = Path("/run/modelship-node")
FORWARD_CHAIN = "MODELSHIP-FORWARD"
# Kernel settings kubelet writes; masked by bind mounts holding these values while the node runs.
MASKED_SYSCTLS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
WATCHED_SYSCTLS = ("net/ipv4/ip_forward", *MASKED_SYSCTLS)


class RealNodeUnavailableError(TestbedError):
    """This machine cannot run the real node; the message says exactly what is missing."""


def node_root() -> Path:
    return cache_dir() / "node"


def relayed(endpoint: str) -> str:
    """The address pods on the real node use for a loopback endpoint the relay puts on the
    bridge (the API server's, the S3 server's)."""
    return endpoint.replace("127.0.0.1", BRIDGE_IP)


def tolerations() -> list[dict[str, str]]:
    """What a pod needs to be allowed on the real node (GPU pods add the GPU taint's)."""
    return [{**REAL_NODE_TAINT, "operator": "Equal"}]


def missing_features() -> list[str]:
    """What this machine lacks for the real node (empty when it can run one)."""
    found = []
    if os.geteuid() != 0:
        found.append("the real node needs root (kubelet, containerd and the bridge)")
    for tool, package in (
        ("containerd", "containerd"),
        ("ctr", "containerd"),
        ("runc", "runc"),
        ("iptables", "iptables"),
        ("ip", "iproute2"),
    ):
        if shutil.which(tool) is None:
            found.append(f"'{tool}' is not installed (apt-get install {package})")
    if not Path("/usr/lib/cni/bridge").exists():
        found.append(
            "the CNI plugins are not installed (apt-get install containernetworking-plugins)"
        )
    filesystems = Path("/proc/filesystems").read_text()
    if "overlay" not in filesystems:
        found.append("the kernel has no overlay filesystem (containerd's snapshotter needs it)")
    if not Path("/sys/fs/cgroup").is_dir():
        found.append("no cgroup filesystem at /sys/fs/cgroup")
    return found


def _run(
    *args: str, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, input=input)
    if check and result.returncode != 0:
        raise TestbedError(
            f"{' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def _iptables_chains() -> list[str]:
    chains = []
    for table in ("filter", "nat", "mangle"):
        out = _run("iptables-save", "-t", table, check=False).stdout
        chains += [
            f"{table}:{line[1:].split()[0]}" for line in out.splitlines() if line.startswith(":")
        ]
        chains += [f"{table}:{line}" for line in out.splitlines() if line.startswith("-A")]
    return sorted(chains)


@dataclass(frozen=True)
class MachineSnapshot:
    """What the real node may change, read before it starts, to prove `stop()` undid it all."""

    links: list[str]
    routes: list[str]
    sysctls: dict[str, str]
    mounts: list[str]
    iptables: list[str]
    netns: list[str]

    @classmethod
    def take(cls) -> MachineSnapshot:
        links = [
            line.split(":")[1].strip().split("@")[0]
            for line in _run("ip", "-o", "link").stdout.splitlines()
        ]
        netns_dir = Path("/var/run/netns")
        return cls(
            links=sorted(links),
            routes=sorted(_run("ip", "route").stdout.splitlines()),
            sysctls={s: _sysctl_path(s).read_text().strip() for s in WATCHED_SYSCTLS},
            mounts=sorted(mount_points()),
            iptables=_iptables_chains(),
            netns=sorted(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else [],
        )

    def differences(self, after: MachineSnapshot) -> list[str]:
        found = []
        for name in ("links", "routes", "mounts", "iptables", "netns"):
            before_items, after_items = set(getattr(self, name)), set(getattr(after, name))
            found += [f"{name}: added {x}" for x in sorted(after_items - before_items)]
            found += [f"{name}: removed {x}" for x in sorted(before_items - after_items)]
        for key, value in self.sysctls.items():
            if after.sysctls.get(key) != value:
                found.append(f"sysctl {key}: {value} before, {after.sysctls.get(key)} after")
        return found


@dataclass(frozen=True)
class NodeState:
    """What `start()` did, for `stop()` in another process."""

    kubeconfig: str
    pids: dict[str, int]
    ip_forward: str
    snapshot: dict[str, Any]


class RealNode:
    """One real node joined to the cluster behind `kubeconfig` (whose PKI is in `pki_dir`)."""

    def __init__(
        self, kubeconfig: Path, pki_dir: Path, apiserver_port: int, s3_ports: tuple[int, ...] = ()
    ) -> None:
        self.kubeconfig = kubeconfig
        self.pki_dir = pki_dir
        self.apiserver_port = apiserver_port
        self.s3_ports = s3_ports
        self.root = node_root()

    # -- files -------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def containerd_socket(self) -> Path:
        return RUN_DIR / "containerd.sock"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def state(self) -> NodeState | None:
        if not self.state_file.exists():
            return None
        return NodeState(**json.loads(self.state_file.read_text()))

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(
            "ctr",
            "--address",
            str(self.containerd_socket),
            "--namespace",
            "k8s.io",
            *args,
            check=check,
        )

    # -- start -------------------------------------------------------------------------
    def start(self, images_tarball: Path | None = None, timeout: float = 120) -> None:
        """Sets up the network, starts the node's processes, imports the images and waits for
        the Node to be Ready. Raises RealNodeUnavailableError when the machine cannot run one."""
        missing = missing_features()
        if missing:
            raise RealNodeUnavailableError("the real node cannot start here: " + "; ".join(missing))
        if self.state() is not None:
            self.stop()
        snapshot = MachineSnapshot.take()
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        # Written first and after each process starts, so a failure half-way is still undone
        # by stop(), in this process or another.
        state = NodeState(
            str(self.kubeconfig), {}, snapshot.sysctls["net/ipv4/ip_forward"], asdict(snapshot)
        )
        self._write_state(state)
        try:
            self._network_up()
            self._mask_sysctls()
            self._spawn(state, "relay", self._relay_command())
            containerd = ["containerd", "--config", str(self._containerd_config())]
            self._spawn(state, "containerd", containerd)
            self._wait(lambda: self.ctr("version", check=False).returncode == 0, 30, "containerd")
            if images_tarball is not None:
                self.import_images(images_tarball)
            self._spawn(state, "kubelet", self._kubelet_command())
            self._spawn(state, "kube-proxy", self._kube_proxy_command())
            self._wait(self._node_ready, timeout, f"node {NODE_NAME} Ready")
            self._advertise_gpus()
        except BaseException:
            self.stop()
            raise

    def _write_state(self, state: NodeState) -> None:
        self.state_file.write_text(json.dumps(asdict(state), indent=2))

    def _spawn(self, state: NodeState, name: str, command: list[str]) -> None:
        """Starts one of the node's processes, detached, and records its pid in the state."""
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        state.pids[name] = process.pid
        self._write_state(state)
        time.sleep(0.2)
        if process.poll() is not None:
            tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
            raise TestbedError(f"{name} of the real node exited at once:\n{tail}")

    def _wait(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TestbedError(
                    f"the real node: timed out after {timeout:.0f}s waiting for {what}; "
                    f"logs in {self.logs}"
                )
            time.sleep(0.5)

    def _network_up(self) -> None:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{BRIDGE_IP}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        for cidr in (SERVICE_CIDR, SIMULATED_POD_CIDR):
            _run("ip", "route", "add", cidr, "dev", BRIDGE, "src", BRIDGE_IP)
        # Forwarding only from the bridge to the bridge (pod -> ClusterIP -> pod); the chain is
        # inserted first, so nothing else is ever forwarded while ip_forward is on.
        _run("iptables", "-N", FORWARD_CHAIN)
        _run("iptables", "-A", FORWARD_CHAIN, "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT")
        _run("iptables", "-A", FORWARD_CHAIN, "-j", "DROP")
        _run("iptables", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN)
        _sysctl_path("net/ipv4/ip_forward").write_text("1")

    def _mask_sysctls(self) -> None:
        folder = self.root / "sysctl"
        folder.mkdir(exist_ok=True)
        for name, value in MASKED_SYSCTLS.items():
            source = folder / name.replace("/", ".")
            source.write_text(value + "\n")
            _run("mount", "--bind", str(source), str(_sysctl_path(name)))

    def _relay_command(self) -> list[str]:
        routes = [f"{BRIDGE_IP}:{self.apiserver_port}=127.0.0.1:{self.apiserver_port}"]
        routes += [f"{BRIDGE_IP}:{port}=127.0.0.1:{port}" for port in self.s3_ports]
        return [sys.executable, "-m", "modelship.dev.relay", *routes]

    def _containerd_config(self) -> Path:
        cni = self.root / "cni"
        cni.mkdir(exist_ok=True)
        (cni / "10-modelship.conflist").write_text(
            json.dumps(cni_config(self.root / "ipam"), indent=2)
        )
        config = self.root / "containerd.toml"
        config.write_text(containerd_config(self.root / "containerd", RUN_DIR, cni))
        return config

    def _kubelet_command(self) -> list[str]:
        config = self.root / "kubelet.yaml"
        config.write_text(
            yaml.safe_dump(kubelet_config(self.pki_dir / "ca.crt", self.containerd_socket))
        )
        labels = ",".join(
            (
                f"{REAL_NODE_LABEL}=true",
                f"nvidia.com/gpu.product={GPU_PRODUCT}",
                f"nvidia.com/gpu.count={FAKE_GPUS}",
            )
        )
        return [
            str(binary("kubelet")),
            f"--config={config}",
            f"--kubeconfig={self.kubeconfig}",
            f"--root-dir={self.root / 'kubelet'}",
            f"--cert-dir={self.root / 'kubelet-pki'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={BRIDGE_IP}",
            f"--node-labels={labels}",
            "--v=1",
        ]

    def _kube_proxy_command(self) -> list[str]:
        config = self.root / "kube-proxy.yaml"
        config.write_text(yaml.safe_dump(kube_proxy_config(self.kubeconfig)))
        return [
            str(binary("kube-proxy")),
            f"--config={config}",
            f"--hostname-override={NODE_NAME}",
            "--v=1",
        ]

    def _kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(
            str(binary("kubectl")), "--kubeconfig", str(self.kubeconfig), *args, check=check
        )

    def _node_ready(self) -> bool:
        result = self._kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _advertise_gpus(self) -> None:
        # An extended resource no device plugin owns: kubelet keeps what the API says it has.
        patch = {"status": {"capacity": {"nvidia.com/gpu": str(FAKE_GPUS)}}}
        self._kubectl(
            "patch",
            "node",
            NODE_NAME,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(patch),
        )
        self._wait(
            lambda: (
                json.loads(self._kubectl("get", "node", NODE_NAME, "-o", "json").stdout)["status"]
                .get("allocatable", {})
                .get("nvidia.com/gpu")
                == str(FAKE_GPUS)
            ),
            30,
            "the fake GPUs in the node's allocatable",
        )

    def images(self) -> dict[str, str]:
        """The images in the node's containerd: name -> manifest digest (`ctr images ls`)."""
        rows = (line.split() for line in self.ctr("images", "ls").stdout.splitlines()[1:])
        return {fields[0]: fields[2] for fields in rows if len(fields) > 2}

    def import_images(self, tarball: Path) -> None:
        """Loads the images into the node's containerd; skipped when the same images (by the
        stamp written beside the tarball) were imported last and are all still there."""
        stamp = tarball.with_suffix(".json")
        imported = self.root / "imported.json"
        wanted = stamp.read_text() if stamp.exists() else None
        unchanged = wanted is not None and imported.exists() and imported.read_text() == wanted
        if unchanged and set(json.loads(wanted or "{}")) <= set(self.images()):
            return
        imported.unlink(missing_ok=True)
        self.ctr("images", "import", str(tarball))
        # A pod may name an image by digest (the chart's image.digest). A pull would record
        # that name; an import records only the tag, so add the digest name beside it.
        for name, digest in self.images().items():
            tagged = "@" not in name and not name.startswith("sha256:")
            if tagged and digest.startswith("sha256:"):
                by_digest = f"{name.rsplit(':', 1)[0]}@{digest}"
                self.ctr("images", "rm", by_digest, check=False)
                self.ctr("images", "tag", name, by_digest)
        if wanted is not None:
            imported.write_text(wanted)

    def image_digest(self, ref: str) -> str | None:
        """The manifest digest containerd holds for `ref` (for pinning images by digest)."""
        return self.images().get(ref)

    # -- stop --------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Stops everything and undoes every change; returns what still differs from before."""
        state = self.state()
        if state is None:
            return []
        self._kubectl("delete", "node", NODE_NAME, "--wait=false", check=False)
        for name in ("kubelet", "kube-proxy"):
            if name in state.pids:
                terminate(state.pids[name])
        self._kill_pods()
        if "containerd" in state.pids:
            terminate(state.pids["containerd"])
        self._kill_shims()
        if "relay" in state.pids:
            terminate(state.pids["relay"])
        unmount_under(str(self.root), str(RUN_DIR))
        self._remove_netns(set(state.snapshot.get("netns", [])))
        self._remove_cgroups()
        for name in MASKED_SYSCTLS:
            while str(_sysctl_path(name)) in mount_points():
                if _run("umount", str(_sysctl_path(name)), check=False).returncode != 0:
                    break
        self._network_down(state.ip_forward)
        before = MachineSnapshot(**state.snapshot)
        self.state_file.unlink(missing_ok=True)
        return before.differences(MachineSnapshot.take())

    def _kill_pods(self) -> None:
        # Every container process lives in the kubepods cgroups; kill them so no shim waits.
        for pid in _pids_in_cgroup("kubepods"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _kill_shims(self) -> None:
        marker = str(self.containerd_socket)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "containerd-shim" in cmdline and marker in cmdline:
                terminate(int(proc.name), grace=2)

    def _remove_netns(self, before: set[str]) -> None:
        folder = Path("/var/run/netns")
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            if path.name.startswith("cni-") and path.name not in before:
                _run("umount", "-l", str(path), check=False)
                path.unlink(missing_ok=True)

    def _remove_cgroups(self) -> None:
        for controller in Path("/sys/fs/cgroup").iterdir():
            top = controller / "kubepods"
            if not top.is_dir():
                continue
            for folder in sorted(
                (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
            ):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()

    def _network_down(self, ip_forward: str) -> None:
        with contextlib.suppress(TestbedError):
            _run(str(binary("kube-proxy")), "--cleanup", check=False)
        # kubelet's own chains, which kube-proxy's cleanup does not remove.
        for table in ("filter", "nat", "mangle"):
            rules = _run("iptables-save", "-t", table, check=False).stdout.splitlines()
            for rule in rules:
                if rule.startswith("-A ") and re.search(
                    r"\b(KUBE-[A-Z0-9-]+|" + FORWARD_CHAIN + r")\b", rule
                ):
                    _run("iptables", "-t", table, "-D", *rule[3:].split(), check=False)
            for rule in rules:
                if rule.startswith(":KUBE-") or rule.startswith(f":{FORWARD_CHAIN}"):
                    chain = rule[1:].split()[0]
                    _run("iptables", "-t", table, "-F", chain, check=False)
                    _run("iptables", "-t", table, "-X", chain, check=False)
        _sysctl_path("net/ipv4/ip_forward").write_text(ip_forward)
        if _run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
            _run("ip", "link", "delete", BRIDGE, check=False)
        for name in _run("ip", "-o", "link").stdout.splitlines():
            link = name.split(":")[1].strip().split("@")[0]
            if link.startswith("veth") and "master " + BRIDGE in name:
                _run("ip", "link", "delete", link, check=False)


def _pids_in_cgroup(name: str) -> set[int]:
    found: set[int] = set()
    for controller in Path("/sys/fs/cgroup").iterdir():
        top = controller / name
        if not top.is_dir():
            continue
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in procs.read_text().split())
    return found


# -- the node's configuration, as pure functions ----------------------------------------
def cni_config(ipam_dir: Path) -> dict[str, Any]:
    """The pods' network: the bridge, addresses from POD_CIDR, and a route to Services only
    (no default route: a pod can reach the bridge's own address and ClusterIPs, nothing else)."""
    return {
        "cniVersion": "1.0.0",
        "name": "modelship",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                # The bridge's address is ours (set before any pod starts); a gateway bridge
                # would also turn on ip_forward by itself.
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [
                        [{"subnet": POD_CIDR, "rangeStart": "10.88.0.10", "gateway": BRIDGE_IP}]
                    ],
                    "routes": [{"dst": SERVICE_CIDR, "gw": BRIDGE_IP}],
                    "dataDir": str(ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def containerd_config(root: Path, run_dir: Path, cni_dir: Path) -> str:
    """containerd 1.6's configuration (version 2 format) for the CRI."""
    from modelship.dev.images import PAUSE_IMAGE

    return f"""version = 2
root = "{root}"
state = "{run_dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{run_dir}/containerd.sock"

[ttrpc]
  address = "{run_dir}/containerd.sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  # This machine lacks CAP_SYS_RESOURCE for raising oom_score_adj; without this runc fails
  # with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_dir}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
"""


def kubelet_config(client_ca: Path, runtime_socket: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": BRIDGE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        # kubelet 1.35+ refuses cgroup v1 unless told; this machine has only v1.
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "registerWithTaints": [REAL_NODE_TAINT],
        # The sandbox's disk is shared with everything else: never evict, never GC our images
        # (they cannot be pulled again: no registry is reachable).
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "protectKernelDefaults": False,
        "clusterDomain": "cluster.local",
        "maxPods": 40,
        "serializeImagePulls": False,
        "enableServer": True,
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "localStorageCapacityIsolation": True,
    }


def kube_proxy_config(kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "clusterCIDR": POD_CIDR,
        "nodePortAddresses": [f"{BRIDGE_IP}/32"],
        # Service traffic from a pod to a pod on the same bridge comes back through the host.
        "iptables": {"masqueradeAll": True, "localhostNodePorts": False, "syncPeriod": "10s"},
        # 0: leave the machine's conntrack settings alone (they are not namespaced).
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
