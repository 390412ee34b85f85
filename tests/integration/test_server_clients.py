"""Third-party clients, unchanged, against a real `modelship serve`: NVIDIA's tritonclient
(HTTP with and without the binary tensor extension, and gRPC), TensorFlow Serving's own gRPC
stubs (tensorflow-serving-api), grpc.health.v1 and server reflection. Every answer is
compared with the same signature called in-process.

One server (REST and gRPC on free ports) is shared by the whole module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.test_server_api import (
    STARTUP_SECONDS,
    InProcess,
    ServerProcess,
    close,
    start_server,
    write_tiny_model,
)

pytestmark = [pytest.mark.integration, pytest.mark.tf]

X = np.array([[1.0, 2.0, 3.0], [0.0, -1.5, 0.25], [4.0, 0.5, -2.0]], np.float32)
K = np.array([4, 1, -3], np.int64)
MAX_MESSAGE_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tiny")
    write_tiny_model(base / "1")
    return base


@pytest.fixture(scope="module")
def in_process(tiny_model: Path) -> InProcess:
    return InProcess(tiny_model / "1")


@pytest.fixture(scope="module")
def expected(in_process: InProcess) -> dict[str, np.ndarray[Any, Any]]:
    return in_process("serving_default", x=X, k=K)


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    running = start_server("tiny", tiny_model, log, "--max-body-bytes", str(MAX_MESSAGE_BYTES))
    try:
        running.wait_ready()
        yield running
    finally:
        assert running.terminate() == 0, running.log_text()


# -- tritonclient.http -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def triton_http(server: ServerProcess) -> Any:
    import tritonclient.http as httpclient

    return httpclient.InferenceServerClient(f"127.0.0.1:{server.port}")


def http_inputs(binary: bool) -> list[Any]:
    import tritonclient.http as httpclient

    x = httpclient.InferInput("x", list(X.shape), "FP32")
    x.set_data_from_numpy(X, binary_data=binary)
    k = httpclient.InferInput("k", list(K.shape), "INT64")
    k.set_data_from_numpy(K, binary_data=binary)
    return [x, k]


def test_tritonclient_http_sees_a_live_ready_server_and_the_model(triton_http: Any) -> None:
    assert triton_http.is_server_live() and triton_http.is_server_ready()
    assert triton_http.is_model_ready("tiny")
    assert "binary_tensor_data" in triton_http.get_server_metadata()["extensions"]
    metadata = triton_http.get_model_metadata("tiny")
    assert {"name": "x", "datatype": "FP32", "shape": [-1, 3]} in metadata["inputs"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_http_infer_equals_in_process(
    triton_http: Any, expected: dict[str, np.ndarray[Any, Any]], binary: bool
) -> None:
    import tritonclient.http as httpclient

    # No outputs named: the client asks for all of them as binary data.
    result = triton_http.infer("tiny", http_inputs(binary))
    assert close(result.as_numpy("y"), expected["y"])
    assert result.as_numpy("ids").tolist() == expected["ids"].tolist()
    # Outputs named, each with its own binary_data choice.
    outputs = [
        httpclient.InferRequestedOutput("y", binary_data=binary),
        httpclient.InferRequestedOutput("ids", binary_data=not binary),
    ]
    result = triton_http.infer("tiny", http_inputs(binary), outputs=outputs, model_version="1")
    assert close(result.as_numpy("y"), expected["y"])
    assert result.as_numpy("ids").tolist() == expected["ids"].tolist()


def test_tritonclient_http_strings_travel_as_binary_bytes(triton_http: Any) -> None:
    import tritonclient.http as httpclient

    names = np.array([b"bob", b"\xff\x00raw"], dtype=object)
    name = httpclient.InferInput("name", [2], "BYTES")
    name.set_data_from_numpy(names, binary_data=True)
    result = triton_http.infer("tiny", [name], parameters={"signature_name": "greet"})
    assert result.as_numpy("greeting").tolist() == [b"hello bob", b"hello \xff\x00raw"]


def test_tritonclient_http_compressed_requests_are_inflated(
    triton_http: Any, expected: dict[str, np.ndarray[Any, Any]]
) -> None:
    for algorithm in ("gzip", "deflate"):
        result = triton_http.infer(
            "tiny", http_inputs(True), request_compression_algorithm=algorithm
        )
        assert close(result.as_numpy("y"), expected["y"])


def test_tritonclient_http_gets_the_servers_error_message(triton_http: Any) -> None:
    from tritonclient.utils import InferenceServerException

    x = np.zeros((2, 4), np.float32)
    inputs = http_inputs(True)
    inputs[0].set_shape([2, 4])
    inputs[0].set_data_from_numpy(x, binary_data=True)
    with pytest.raises(InferenceServerException) as caught:
        triton_http.infer("tiny", inputs)
    assert "input 'x' expects shape [-1, 3] but got [2, 4]" in str(caught.value)
    with pytest.raises(InferenceServerException, match="model 'other' is not served here"):
        triton_http.infer("other", http_inputs(True))


def wait_for(predicate: Any, what: str, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def grpc_port(server: ServerProcess) -> int:
    found = re.search(r"gRPC on 127\.0\.0\.1:(\d+)", server.log_text())
    assert found, server.log_text()
    return int(found[1])
