"""Pulls over a connection that breaks: a TCP relay on 127.0.0.1 in front of the real S3
server cuts responses mid-body, as a flaky network or a restarting proxy would."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.artifacts import (
    ArtifactError,
    ArtifactStore,
    ModelInfo,
    S3Settings,
    make_s3_client,
    parse_storage_uri,
)

pytestmark = pytest.mark.integration

CUT_AFTER = 256 * 1024  # bytes of a response let through before the connection is cut


class BreakingRelay:
    """Relays TCP to `target`; the next `cuts` connections that send more than CUT_AFTER
    bytes back are closed right there."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cuts = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _take_cut(self) -> bool:
        with self.lock:
            if self.cuts > 0:
                self.cuts -= 1
                return True
            return False

    def _pipe(self, source: socket.socket, sink: socket.socket, may_cut: bool) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if may_cut and sent + len(data) > CUT_AFTER and self._take_cut():
                    sink.sendall(data[: CUT_AFTER - sent])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


@pytest.fixture
def relay(s3_server: Any) -> Iterator[BreakingRelay]:
    port = int(s3_server.endpoint.rsplit(":", 1)[1])
    relay = BreakingRelay(port)
    yield relay
    relay.close()


@pytest.fixture
def published(s3_server: Any, s3_bucket: str, tmp_path: Path) -> tuple[str, Path]:
    """Version 1 of a model with one 3 MiB file, published directly (not through the relay)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    uri = f"s3://{s3_bucket}/models/flaky"
    store = ArtifactStore(
        make_s3_client(connection(s3_server, s3_server.endpoint)), parse_storage_uri(uri)
    )
    store.push(model, model=ModelInfo("none", "-", ()))
    return uri, model


def connection(s3_server: Any, endpoint: str) -> S3Settings:
    return S3Settings(endpoint, s3_server.region, s3_server.access_key, s3_server.secret_key)


def test_a_body_cut_mid_stream_is_resumed(
    s3_server: Any, relay: BreakingRelay, published: tuple[str, Path], tmp_path: Path
) -> None:
    uri, model = published
    store = ArtifactStore(
        make_s3_client(connection(s3_server, f"http://127.0.0.1:{relay.port}")),
        parse_storage_uri(uri),
    )
    relay.cuts = 2
    store.pull(1, tmp_path / "copy")
    assert relay.cuts == 0  # both cuts happened
    assert (tmp_path / "copy" / "weights.bin").read_bytes() == (model / "weights.bin").read_bytes()


def test_a_network_that_keeps_failing_is_storage_unavailable(
    s3_server: Any, relay: BreakingRelay, published: tuple[str, Path], tmp_path: Path
) -> None:
    uri, _ = published
    store = ArtifactStore(
        make_s3_client(connection(s3_server, f"http://127.0.0.1:{relay.port}")),
        parse_storage_uri(uri),
    )
    relay.cuts = 1000
    dest = tmp_path / "models" / "1"
    with pytest.raises(ArtifactError) as caught:
        store.pull(1, dest)
    assert caught.value.reason == "StorageUnavailable"
    assert not dest.exists() and list(dest.parent.iterdir()) == []
