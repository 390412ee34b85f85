"""A real S3-compatible server (versitygw) on 127.0.0.1, for the sandbox and the tests."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelship.dev.binaries import TestbedError, binary

DEFAULT_REGION = "us-east-1"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the tiny race with another binder is acceptable here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    what: str = "server",
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise TestbedError(f"{what} exited with code {process.returncode} at start:\n{tail}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TestbedError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def s3_client(endpoint: str, region: str, access_key: str, secret_key: str) -> Any:
    """A boto3 S3 client for a test or sandbox server (path-style addressing)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


@dataclass
class S3Server:
    """versitygw serving the folder `root_dir` as S3 on 127.0.0.1:`port`."""

    root_dir: Path
    port: int = 0
    access_key: str = "modelship"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    region: str = DEFAULT_REGION
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, detach: bool = False) -> S3Server:
        """Starts the server; `detach` lets it outlive this process (the sandbox uses that)."""
        self.root_dir = Path(self.root_dir)
        (self.root_dir / "data").mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        log = self.root_dir / "versitygw.log"
        env = {
            **os.environ,
            "ROOT_ACCESS_KEY": self.access_key,
            "ROOT_SECRET_KEY": self.secret_key,
        }
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(binary("versitygw")),
                    "--port",
                    f"127.0.0.1:{self.port}",
                    "--region",
                    self.region,
                    "posix",
                    str(self.root_dir / "data"),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=detach,
            )
        wait_for_port(self.port, 20, self.process, "versitygw", log)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style addressing, fast failures)."""
        return s3_client(self.endpoint, self.region, self.access_key, self.secret_key)

    def create_bucket(self, name: str) -> str:
        """Creates the bucket; one kept from an earlier run of the same folder is fine."""
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 (and `modelship pull`) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }
