"""`modelship dev up | down`: reuse, crash reporting, and nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from modelship.dev.binaries import TestbedError
from modelship.dev.s3 import free_port
from modelship.dev.sandbox import Sandbox

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv("MODELSHIP_SANDBOX_S3_PORT", str(free_port()))
    box = Sandbox(f"sbtest-{os.getpid()}")
    yield box
    box.down()


def test_up_reuses_a_running_sandbox_and_down_leaves_nothing(sandbox: Sandbox) -> None:
    first = sandbox.up(install_crds=False, real_node=False)
    again = sandbox.up(install_crds=False, real_node=False)
    assert again == first, "a second up must reuse the running sandbox"
    nodes = sandbox.cluster.kubectl("get", "nodes", "-o", "name").stdout.split()
    assert len(nodes) == 6
    s3_port = int(first.s3_endpoint.rsplit(":", 1)[1])
    pids = [*sandbox.cluster.component_pids().values(), first.s3_pid]
    assert listening(s3_port)

    assert sandbox.down() == []
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)], "a sandbox process outlived `down`"
    assert not listening(s3_port)
    assert sandbox.state() is None


def test_a_crashed_component_is_reported_not_ignored(sandbox: Sandbox) -> None:
    state = sandbox.up(install_crds=False, real_node=False)
    os.kill(state.s3_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(state.s3_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = sandbox.problems()
    assert any("S3 server" in p for p in problems)
    with pytest.raises(TestbedError, match="broken"):
        sandbox.up(install_crds=False, real_node=False)
    status = subprocess.run(
        [sys.executable, "-m", "modelship", "dev", "status", "--name", sandbox.name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 1
    assert "S3 server" in status.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
