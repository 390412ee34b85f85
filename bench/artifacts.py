"""How fast `modelship pull` downloads a version, against a tuned plain boto3 download.

Publishes one version of --files random files totalling --size-mb to a local versitygw, then,
in the same run and alternating the order each round:
  - pull:          ArtifactStore.pull (parallel ranged GETs, sha256 while writing, rename)
  - pull, no hash: the same transfer without sha256 (what verification costs)
  - boto3:         boto3's TransferManager (s3transfer) with the same concurrency and part
                   size, downloading the same keys, all submitted at once
and prints each median throughput, the ratio pull / boto3 (goal: >= 0.9) and the cost of
verification. Run: `python bench/artifacts.py [--size-mb 1024] [--files 8] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import botocore
from boto3.s3.transfer import TransferConfig, create_transfer_manager

from modelship.artifacts import ArtifactStore, ModelInfo, S3Settings, make_s3_client
from modelship.artifacts.transfer import DownloadItem, MiB, TransferTuning, download_files
from modelship.artifacts.uri import parse_storage_uri
from modelship.dev.s3 import S3Server


def write_random_files(folder: Path, count: int, total: int) -> None:
    """`count` files of random bytes (incompressible, like trained weights)."""
    folder.mkdir(parents=True)
    block = 8 * MiB
    for index in range(count):
        size = total // count + (total % count if index == 0 else 0)
        with (folder / f"variables.data-{index:05d}-of-{count:05d}").open("wb") as out:
            while size > 0:
                out.write(os.urandom(min(block, size)))
                size -= block


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024, help="total size of the version")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--part-mb", type=int, default=8, help="ranged GET / part size")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    total = args.size_mb * MiB
    tuning = TransferTuning(
        concurrency=args.concurrency,
        part_size=args.part_mb * MiB,
        multipart_threshold=args.part_mb * MiB,
    )
    print(
        f"setup: {os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}"
        f", boto3 {boto3.__version__}, botocore {botocore.__version__}; versitygw (posix backend)"
        f" on 127.0.0.1, same machine; one version of {args.files} files, {args.size_mb} MiB in"
        f" all; concurrency {args.concurrency}, parts {args.part_mb} MiB; {args.rounds} rounds"
        " after one warm-up, medians"
    )
    with tempfile.TemporaryDirectory(prefix="modelship-bench-") as scratch:
        root = Path(scratch)
        server = S3Server(root / "s3").start()
        try:
            run(server, root, args, tuning, total)
        finally:
            server.stop()


def run(
    server: S3Server, root: Path, args: argparse.Namespace, tuning: TransferTuning, total: int
) -> None:
    settings = S3Settings(
        endpoint=server.endpoint,
        region=server.region,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
    )
    client = make_s3_client(settings, concurrency=args.concurrency)
    client.create_bucket(Bucket="bench")
    store = ArtifactStore(client, parse_storage_uri("s3://bench/models/big"), tuning)

    source = root / "source"
    write_random_files(source, args.files, total)
    # Random bytes are no SavedModel; say what the manifest records instead of loading one.
    model = ModelInfo(framework="none", framework_version="-", signatures=())
    push_seconds = timed(lambda: store.push(source, model=model))
    info = store.check_version(1)
    assert info.manifest is not None
    keys = [store.uri.key(1, f.path) for f in info.manifest.files]
    print(f"push (hash + parallel multipart upload): {total / MiB / push_seconds:8.0f} MiB/s")

    def pull() -> None:
        store.pull(1, root / "pulled")

    def pull_unhashed() -> None:
        items = [
            DownloadItem(key=store.uri.key(1, f.path), target=root / "raw" / f.path, size=f.size)
            for f in info.manifest.files  # type: ignore[union-attr]
        ]
        download_files(client, "bench", items, tuning, verify=False)

    boto_config = TransferConfig(
        max_concurrency=args.concurrency,
        multipart_chunksize=tuning.part_size,
        multipart_threshold=tuning.multipart_threshold,
        use_threads=True,
    )

    def boto3_download() -> None:
        (root / "boto3").mkdir()
        with create_transfer_manager(client, boto_config) as manager:
            futures = [
                manager.download("bench", key, str(root / "boto3" / key.rsplit("/", 1)[1]))
                for key in keys
            ]
            for future in futures:
                future.result()

    contenders: dict[str, Callable[[], None]] = {
        "pull": pull,
        "pull, no hash": pull_unhashed,
        "boto3": boto3_download,
    }
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for round_number in range(args.rounds + 1):
        names = list(contenders)
        if round_number % 2:
            names.reverse()
        for name in names:
            elapsed = timed(contenders[name])
            if round_number:  # round 0 warms the server's page cache and the connections
                seconds[name].append(elapsed)
            for folder in ("pulled", "raw", "boto3"):
                shutil.rmtree(root / folder, ignore_errors=True)

    median = {name: statistics.median(values) for name, values in seconds.items()}
    for name, value in median.items():
        print(f"{name:<14} {total / MiB / value:8.0f} MiB/s   ({value:.2f} s)")
    print(f"ratio pull / boto3:          {median['boto3'] / median['pull']:.2f}  (goal >= 0.9)")
    print(f"ratio pull no hash / boto3:  {median['boto3'] / median['pull, no hash']:.2f}")
    cost = median["pull"] / median["pull, no hash"] - 1
    print(f"verification (sha256) cost:  {cost * 100:+.0f}% time")


if __name__ == "__main__":
    main()
