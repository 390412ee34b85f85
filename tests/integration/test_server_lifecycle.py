"""The life of a `modelship serve` process with the digits example model: not ready until a
version is loaded and warmed up, concurrent requests batched, and SIGTERM drains in-flight
requests before a clean exit.

The server runs with a batch timeout of an hour, so a batch is cut only when it is full or
when the server drains: what the tests see never depends on the machine's speed.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.integration.test_server_api import (
    STARTUP_SECONDS,
    InProcess,
    Reply,
    ServerProcess,
    start_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.tf]

ROOT = Path(__file__).resolve().parents[2]
BATCH = 8
PREDICT = "/v1/models/digits:predict"


def digits_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("digits", ROOT / "examples/digits/digits.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Startup:
    """What the server answered before its model existed, and once it was ready."""

    ready_before: Reply
    status_before: Reply
    predict_before: Reply
    ready_after: Reply
    status_after: Reply


@dataclass
class DigitsServer:
    server: ServerProcess
    startup: Startup
    model: InProcess
    pixels: np.ndarray[Any, Any]  # a few test images, float32 [n, 64]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DigitsServer]:
    base = tmp_path_factory.mktemp("digits-base")
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    server = start_server(
        "digits", base, log,
        # TF Serving's rule, so requests wait (here for ever) for a full batch.
        "--max-batch-size", str(BATCH), "--batch-timeout-micros", str(3600 * 10**6),
        "--batch-wait-when-idle",
    )  # fmt: skip
    try:
        # Nothing under the base path yet: the server listens but cannot be ready.
        ready_before = server.get("/v2/health/ready")
        status_before = server.get("/v1/models/digits")
        predict_before = server.post(PREDICT, {"instances": [[0.0] * 64]})
        example = digits_example()
        model, _ = example.build_and_train(epochs=3)
        staged = base / ".staging"
        example.export_saved_model(model, staged)
        staged.rename(base / "1")  # appears whole, as a pulled version does
        deadline = time.monotonic() + STARTUP_SECONDS
        while server.get("/v2/health/ready").status != 200:
            server.check_running()
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.2)
        startup = Startup(
            ready_before,
            status_before,
            predict_before,
            server.get("/v2/health/ready"),
            server.get("/v1/models/digits"),
        )
        _, x_test, _, _ = example.load_digits_split()
        yield DigitsServer(server, startup, InProcess(base / "1"), x_test[:BATCH])
    finally:
        server.terminate()


def probabilities(model: InProcess, pixels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return model("serving_default", pixels=pixels.astype(np.float32))["probabilities"]


def test_ready_only_once_a_version_is_loaded_and_warmed_up(digits: DigitsServer) -> None:
    startup = digits.startup
    assert startup.ready_before.status == 503
    assert "waiting for a version folder" in startup.ready_before.body["error"]
    assert startup.status_before.status == 404
    assert startup.predict_before.status == 404
    assert startup.ready_after.status == 200
    assert startup.status_after.body["model_version_status"][0]["state"] == "AVAILABLE"
    assert "warmed up signatures: serving_default" in digits.server.log_text()


def test_concurrent_requests_are_batched_and_answered_each_their_own(
    digits: DigitsServer,
) -> None:
    server, pixels = digits.server, digits.pixels
    expected = probabilities(digits.model, pixels)
    labels = {"model": "digits", "version": "1", "signature": "serving_default"}
    calls_before = server.metric("modelship_batch_size_count", **labels)
    rows_before = server.metric("modelship_batch_size_sum", **labels)

    def one(index: int) -> Reply:
        row = pixels[index].tolist()
        if index % 3 == 0:
            return server.post(PREDICT, {"instances": [row]})
        if index % 3 == 1:
            return server.post(PREDICT, {"inputs": {"pixels": [row]}})
        tensor = {"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": row}
        return server.post("/v2/models/digits/infer", {"inputs": [tensor]})

    with ThreadPoolExecutor(BATCH) as pool:
        first = [pool.submit(one, i) for i in range(BATCH - 1)]
        # Seven requests wait for an eighth to fill the batch; the server still answers.
        deadline = time.monotonic() + 120
        while server.metric("modelship_requests_in_flight", model="digits") < BATCH - 1:
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        assert server.get("/v2/health/live").status == 200
        assert server.get("/v2/health/ready").status == 200
        assert not any(f.done() for f in first)
        replies = [f.result() for f in [*first, pool.submit(one, BATCH - 1)]]
    for index, reply in enumerate(replies):
        assert reply.status == 200, reply.body
        if index % 3 == 0:
            got = reply.body["predictions"][0]
        elif index % 3 == 1:
            got = reply.body["outputs"][0]
        else:
            got = reply.body["outputs"][0]["data"]
        assert np.allclose(got, expected[index], atol=1e-5, rtol=0)
    # One model call carried all eight rows.
    assert server.metric("modelship_batch_size_count", **labels) == calls_before + 1
    assert server.metric("modelship_batch_size_sum", **labels) == rows_before + BATCH


def test_a_model_that_cannot_load_ends_the_server_with_its_reason(tmp_path: Path) -> None:
    version = tmp_path / "digits" / "4"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"not a protobuf")
    termination_log = tmp_path / "termination-log"
    server = start_server(
        "digits", tmp_path / "digits", tmp_path / "serve.log",
        env={"MODELSHIP_TERMINATION_LOG": str(termination_log)},
    )  # fmt: skip
    assert server.process.wait(timeout=STARTUP_SECONDS) == 1
    assert "error: ModelLoadFailed:" in server.log_text()
    assert termination_log.read_text().startswith(
        f"ModelLoadFailed: {version} does not hold a readable SavedModel"
    )


def test_sigterm_answers_in_flight_requests_and_grpc_calls_then_exits_0(
    digits: DigitsServer,
) -> None:
    import tritonclient.grpc as grpcclient

    server = digits.server
    expected = probabilities(digits.model, digits.pixels[:2])
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    pixels = grpcclient.InferInput("pixels", [2, 64], "FP32")
    pixels.set_data_from_numpy(digits.pixels[:2].astype(np.float32))
    with ThreadPoolExecutor(2) as pool:
        pending = pool.submit(server.post, PREDICT, {"instances": digits.pixels[:2].tolist()})
        pending_call = pool.submit(client.infer, "digits", [pixels], client_timeout=120)
        deadline = time.monotonic() + 120
        while server.metric("modelship_requests_in_flight", model="digits") < 2:
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        # The REST request and the gRPC call wait in the one queue for company that will
        # never come (a batch holds 8 rows).
        assert not pending.done() and not pending_call.done()
        code = server.terminate()
        reply = pending.result()
        call = pending_call.result()
    assert reply.status == 200, reply.body
    assert np.allclose(reply.body["predictions"], expected, atol=1e-5, rtol=0)
    assert np.allclose(call.as_numpy("probabilities"), expected, atol=1e-5, rtol=0)
    assert code == 0, server.log_text()
    assert "every in-flight request was answered" in server.log_text()
