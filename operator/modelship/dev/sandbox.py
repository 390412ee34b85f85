"""The local sandbox: a simulated GPU cluster, an S3 server with a bucket, and the CRD.

`modelship dev up` starts it in the background and records it in a state file, so a second
`up` reuses it, `env` prints how to reach it and `down` stops every process it started.
The test suite starts its own sandbox through the same class.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from modelship.dev import images, node
from modelship.dev.binaries import TestbedError, cache_dir, ensure_built
from modelship.dev.cluster import Cluster, wait_established
from modelship.dev.host import alive, terminate
from modelship.dev.s3 import S3Server

DEFAULT_BUCKET = "models"
# The sandbox's S3 port is fixed so examples can name it (examples/digits/modeldeployment.yaml);
# the test suite's own S3 servers take free ports instead.
DEFAULT_SANDBOX_S3_PORT = 19000


def sandbox_s3_port() -> int:
    return int(os.environ.get("MODELSHIP_SANDBOX_S3_PORT", DEFAULT_SANDBOX_S3_PORT))


SANDBOX_SECRET = "s3-creds"


@dataclass(frozen=True)
class SandboxState:
    """What `up` started: enough for `env`, `status` and `down` in another process."""

    name: str
    kubeconfig: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    s3_region: str
    s3_pid: int
    bucket: str
    # "running", or the reason the real node is not (the sandbox then has kwok nodes only).
    real_node: str = "not started"

    @property
    def pod_s3_endpoint(self) -> str:
        """The S3 endpoint as pods on the real node reach it (the relay on the bridge)."""
        return node.relayed(self.s3_endpoint)

    def exports(self) -> dict[str, str]:
        return {
            "KUBECONFIG": self.kubeconfig,
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": self.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_key,
            "AWS_REGION": self.s3_region,
            "MODELSHIP_BUCKET": self.bucket,
            "MODELSHIP_POD_S3_ENDPOINT": self.pod_s3_endpoint,
            "MODELSHIP_REAL_NODE": self.real_node,
        }


def crds_dir() -> Path | None:
    """The repository's crds/ folder when running from a checkout."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "crds").is_dir() and (parent / "pyproject.toml").exists():
            return parent / "crds"
    return None


class Sandbox:
    """One named sandbox; its files live under <cache>/sandbox/<name>."""

    def __init__(self, name: str = "modelship") -> None:
        self.name = name
        self.root = cache_dir() / "sandbox" / name
        self.cluster = Cluster(name)

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def state(self) -> SandboxState | None:
        if not self.state_file.exists():
            return None
        return SandboxState(**json.loads(self.state_file.read_text()))

    def problems(self) -> list[str]:
        """Components that should be running and are not (empty when healthy)."""
        state = self.state()
        if state is None:
            return ["the sandbox is not running"]
        found = [f"{c} (simulated cluster) is not running" for c in self.cluster.dead_components()]
        if not self.cluster.component_pids():
            found.append("the simulated cluster has no running components")
        if not alive(state.s3_pid):
            found.append(f"the S3 server (pid {state.s3_pid}) is not running")
        if state.real_node == "running":
            node_state = self.real_node().state()
            pids = node_state.pids if node_state else {}
            found += [
                f"{name} of the real node (pid {pid}) is not running"
                for name, pid in pids.items()
                if not alive(pid)
            ]
            if node_state is None:
                found.append("the real node is not running")
        return found

    def real_node(self) -> node.RealNode:
        return node.RealNode(
            self.cluster.kubeconfig,
            self.cluster.pki_dir,
            self.cluster.apiserver_port(),
            (sandbox_s3_port(),),
        )

    def up(self, install_crds: bool = True, real_node: bool = True) -> SandboxState:
        """Starts everything, or reuses a healthy running sandbox; reports a crashed one.

        With `real_node`, one real node (modelship.dev.node) joins the kwok nodes, running the
        locally built images; when this machine cannot run one, the sandbox starts without it
        and its state says why."""
        existing = self.state()
        if existing is not None:
            problems = self.problems()
            if problems:
                raise TestbedError(
                    f"sandbox '{self.name}' is broken: {'; '.join(problems)}. "
                    f"Run `modelship dev down` and then `modelship dev up`; the logs are in "
                    f"{self.cluster.workdir / 'logs'} and {self.root}"
                )
            return existing
        ensure_built(("kubernetes", "etcd", "kwok", "versitygw") + (("node",) if real_node else ()))
        self.root.mkdir(parents=True, exist_ok=True)
        port = sandbox_s3_port()
        if _listening(port):
            raise TestbedError(
                f"port 127.0.0.1:{port} for the sandbox's S3 server is taken; stop "
                "what listens there or set MODELSHIP_SANDBOX_S3_PORT"
            )
        s3 = S3Server(self.root / "s3", port=port).start(detach=True)
        try:
            s3.create_bucket(DEFAULT_BUCKET)
            if self.cluster.exists():
                self.cluster.delete()
            self.cluster.create()
            if install_crds:
                self.install_crds()
            # The credentials examples reference, as a Secret in the default namespace.
            self.cluster.apply_objects(
                [
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "type": "Opaque",
                        "metadata": {"name": SANDBOX_SECRET, "namespace": "default"},
                        "stringData": {
                            "AWS_ACCESS_KEY_ID": s3.access_key,
                            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                        },
                    }
                ]
            )
            real_node_status = self._start_real_node() if real_node else "not requested"
        except BaseException:
            self.real_node().stop()
            self.cluster.delete()
            s3.stop()
            raise
        assert s3.process is not None
        state = SandboxState(
            name=self.name,
            kubeconfig=str(self.cluster.kubeconfig),
            s3_endpoint=s3.endpoint,
            s3_access_key=s3.access_key,
            s3_secret_key=s3.secret_key,
            s3_region=s3.region,
            s3_pid=s3.process.pid,
            bucket=DEFAULT_BUCKET,
            real_node=real_node_status,
        )
        self.state_file.write_text(json.dumps(asdict(state), indent=2))
        self.state_file.chmod(0o600)  # it holds the sandbox's S3 secret
        return state

    def _start_real_node(self) -> str:
        missing = node.missing_features()
        if missing:
            reason = "unavailable: " + "; ".join(missing)
            print(
                f"modelship dev: the sandbox runs with kwok nodes only; {reason}", file=sys.stderr
            )
            return reason
        self.real_node().start(images.ensure_images_tarball())
        return "running"

    def install_crds(self) -> None:
        folder = crds_dir()
        if folder is None:
            return
        objects = [
            doc
            for path in sorted(folder.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())
            if doc
        ]
        if not objects:
            return
        self.cluster.apply_objects(objects)
        for obj in objects:
            wait_established(self.cluster.kubeconfig, obj["metadata"]["name"], timeout=30)

    @property
    def operator_log(self) -> Path:
        return self.root / "operator.log"

    @property
    def operator_pid_file(self) -> Path:
        return self.root / "operator.pid"

    def start_operator(self, extra_args: tuple[str, ...] = ()) -> int:
        """Runs `modelship run` in the background against the sandbox (once)."""
        state = self.state()
        if state is None:
            raise TestbedError("the sandbox is not running; start it with `modelship dev up`")
        if self.operator_pid_file.exists():
            pid = int(self.operator_pid_file.read_text())
            if alive(pid):
                return pid
        # Metrics and health on 127.0.0.1 only, like every other listener of the sandbox.
        env = {**os.environ, "KUBECONFIG": state.kubeconfig, "MODELSHIP_BIND_ADDRESS": "127.0.0.1"}
        with self.operator_log.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "modelship", "run", *extra_args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.operator_pid_file.write_text(str(process.pid))
        return process.pid

    def stop_operator(self) -> None:
        if not self.operator_pid_file.exists():
            return
        pid = int(self.operator_pid_file.read_text())
        terminate(pid)
        self.operator_pid_file.unlink()

    def down(self) -> list[str]:
        """Stops every process the sandbox started; returns what was still listening after."""
        state = self.state()
        self.stop_operator()
        leftovers = []
        if self.cluster.exists():
            leftovers += self.real_node().stop()
        self.cluster.delete()
        if state is not None:
            terminate(state.s3_pid)
        if state is not None:
            port = int(state.s3_endpoint.rsplit(":", 1)[1])
            if _listening(port):
                leftovers.append(f"127.0.0.1:{port} (S3)")
        if self.state_file.exists():
            self.state_file.unlink()
        return leftovers

    def describe(self) -> dict[str, Any]:
        state = self.state()
        return {
            "name": self.name,
            "running": state is not None and not self.problems(),
            "problems": self.problems() if state else [],
            **(state.exports() if state else {}),
        }


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
