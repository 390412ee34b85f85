"""How fast the sandbox starts once its binaries are cached, and what its processes cost.

Prints: warm start-up time of the simulated cluster (control plane + kwok + 6 nodes Ready) and
of the S3 server, over a few runs, and the resident memory of each process once idle.
Run: `python bench/testbed.py [--runs N]` (the binaries must be built: `modelship dev build`).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from modelship.dev.binaries import ensure_built
from modelship.dev.cluster import KUBE_VERSION, Cluster
from modelship.dev.s3 import S3Server


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_built(("kubernetes", "etcd", "kwok", "versitygw"))
    print(
        f"setup: {os.cpu_count()} CPUs, {platform.machine()}, Kubernetes {KUBE_VERSION}, "
        f"kwok, versitygw; {args.runs} warm runs each"
    )

    cluster_times, s3_times = [], []
    memory: dict[str, float] = {}
    for run in range(args.runs):
        cluster = Cluster(f"bench-{os.getpid()}-{run}")
        started = time.perf_counter()
        cluster.create()
        cluster_times.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as root:
            started = time.perf_counter()
            s3 = S3Server(Path(root)).start()
            s3_times.append(time.perf_counter() - started)
            if run == args.runs - 1:
                time.sleep(5)  # let the control plane settle before reading memory
                for component, pid in cluster.component_pids().items():
                    memory[component] = rss_mib(pid)
                assert s3.process is not None
                memory["versitygw (S3)"] = rss_mib(s3.process.pid)
            s3.stop()
        cluster.delete()

    def describe(values: list[float]) -> str:
        return (
            f"median {statistics.median(values):.2f}s, min {min(values):.2f}s, "
            f"max {max(values):.2f}s"
        )

    print(f"cluster up (6 nodes Ready): {describe(cluster_times)}")
    print(f"S3 server up:               {describe(s3_times)}")
    print("resident memory when idle:")
    for component, mib in sorted(memory.items()):
        print(f"  {component:<26} {mib:8.1f} MiB")
    print(f"  {'total':<26} {sum(memory.values()):8.1f} MiB")


if __name__ == "__main__":
    main()
