"""Request capture with a real `modelship serve` process and the real S3 server: sampled
requests from REST predict, v2 infer and gRPC ModelInfer arrive in S3 as gzip JSON-lines
batches; an excluded input never reaches S3 (every object is read back); a masked one is a
keyed hash; and records are dropped and counted when the byte budget is spent or the queue
is full while S3 does not answer - without a request waiting on it."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.api.capture import ENV_MASK_KEY
from modelship.artifacts import S3Settings, parse_storage_uri
from modelship.artifacts.capture import CaptureStore, capture_prefix
from modelship.serving.capture import DROP_BYTE_BUDGET, DROP_QUEUE_FULL, MASK_PREFIX
from tests.integration.test_server_api import ServerProcess, start_server, write_tiny_model

pytestmark = [pytest.mark.integration, pytest.mark.tf]

MASK_KEY = "capture-test-mask-key"
# A value of the excluded input `k` that cannot turn up in a capture by chance.
SECRET_K = 918273645
BUDGET = 20000
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tiny")
    write_tiny_model(base / "1")
    return base


@pytest.fixture(scope="module")
def capture_bucket(s3_server: Any) -> str:
    name = "capture-test"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def store(s3_server: Any, capture_bucket: str) -> CaptureStore:
    settings = S3Settings(
        endpoint=s3_server.endpoint, region=s3_server.region,
        access_key_id=s3_server.access_key, secret_access_key=s3_server.secret_key,
    )  # fmt: skip
    return CaptureStore(parse_storage_uri(f"s3://{capture_bucket}/captures"), settings)


@pytest.fixture(scope="module")
def server(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory, s3_server: Any, store: CaptureStore
) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    running = start_server(
        "tiny", tiny_model, log,
        "--capture-storage-uri", str(store.uri), "--capture-sample-rate", "1",
        "--capture-exclude", "k,ids", "--capture-mask", "name,greeting",
        "--capture-max-bytes-per-hour", str(BUDGET), "--capture-flush-seconds", "0.2",
        "--capture-sse", "AES256",
        env={**s3_server.env(), ENV_MASK_KEY: MASK_KEY, "HOSTNAME": "tiny-serving-abc"},
    )  # fmt: skip
    try:
        running.wait_ready()
        yield running
    finally:
        assert running.terminate() == 0, running.log_text()


def wait_for_metric(server: ServerProcess, name: str, at_least: float, **labels: str) -> float:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = server.metric(name, **labels)
        if value >= at_least:
            return value
        server.check_running()
        time.sleep(0.1)
    raise AssertionError(f"{name}{labels} stayed below {at_least}:\n{server.log_text()}")


def all_records(store: CaptureStore) -> list[dict[str, Any]]:
    return list(store.records("tiny"))


def raw_objects(store: CaptureStore) -> list[bytes]:
    """Every object under the bucket, decompressed where it is a batch."""
    import gzip

    client = store.client
    found = []
    for item in client.list_objects_v2(Bucket=store.uri.bucket).get("Contents", []):
        body = client.get_object(Bucket=store.uri.bucket, Key=item["Key"])["Body"].read()
        found.append(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
    return found


def test_sampled_requests_from_every_protocol_arrive_in_s3_without_the_excluded_input(
    server: ServerProcess, store: CaptureStore
) -> None:
    import tritonclient.grpc as grpcclient

    x = [[1.0, 2.0, 3.0]]
    rest = server.post("/v1/models/tiny:predict", {"inputs": {"x": x, "k": [SECRET_K]}})
    assert rest.status == 200, rest.body
    v2 = server.post(
        "/v2/models/tiny/infer",
        {"inputs": [
            {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [4.0, 5.0, 6.0]},
            {"name": "k", "shape": [1], "datatype": "INT64", "data": [SECRET_K]},
        ]},
    )  # fmt: skip
    assert v2.status == 200, v2.body
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    first = grpcclient.InferInput("x", [1, 3], "FP32")
    first.set_data_from_numpy(np.array([[7.0, 8.0, 9.0]], np.float32))
    second = grpcclient.InferInput("k", [1], "INT64")
    second.set_data_from_numpy(np.array([SECRET_K], np.int64))
    client.infer("tiny", [first, second])
    names = grpcclient.InferInput("name", [1], "BYTES")
    names.set_data_from_numpy(np.array([b"ann@example.com"], dtype=object))
    client.infer("tiny", [names], parameters={"signature_name": "greet"})

    wait_for_metric(server, "modelship_capture_written_total", 4, model="tiny", version="1")
    records = all_records(store)
    captured_x = sorted(r["inputs"]["x"] for r in records if "x" in r["inputs"])
    assert captured_x == [[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]], [[7.0, 8.0, 9.0]]]
    assert all("k" not in r["inputs"] and "ids" not in r["outputs"] for r in records)
    predicted = [r["outputs"]["y"] for r in records if "y" in r["outputs"]]
    assert rest.body["outputs"]["y"] in predicted  # the prediction the client got
    greet = next(r for r in records if r["signature"] == "greet")
    expected = hmac.new(MASK_KEY.encode(), b"name\x00ann@example.com", hashlib.sha256)
    assert greet["inputs"]["name"] == [MASK_PREFIX + expected.hexdigest()]
    assert greet["masked"] == ["greeting", "name"]
    assert greet["outputs"]["greeting"][0].startswith(MASK_PREFIX)  # it echoes the name
    for body in raw_objects(store):
        assert b"ann@example.com" not in body
        assert b'"k"' not in body and str(SECRET_K).encode() not in body
        assert MASK_KEY.encode() not in body
    keys = [b.key for b in store.batches(capture_prefix(store.uri, "tiny", 1))]
    assert keys and all("-tiny-serving-abc-" in k and k.endswith(".jsonl.gz") for k in keys)
    assert MASK_KEY not in server.log.read_text(errors="replace")


def test_tf_serving_grpc_predict_is_captured_too(
    server: ServerProcess, store: CaptureStore
) -> None:
    grpc = pytest.importorskip("grpc")
    apis = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    before = server.metric("modelship_capture_written_total", model="tiny", version="1")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tiny"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[2.5, 3.5, 4.5]], np.float32)))
    request.inputs["k"].CopyFrom(tf.make_tensor_proto(np.array([SECRET_K], np.int64)))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        apis.PredictionServiceStub(channel).Predict(request, timeout=60)
    wait_for_metric(
        server, "modelship_capture_written_total", before + 1, model="tiny", version="1"
    )
    records = [r for r in all_records(store) if r["inputs"].get("x") == [[2.5, 3.5, 4.5]]]
    assert len(records) == 1 and "k" not in records[0]["inputs"]


def test_a_spent_byte_budget_drops_records_and_counts_them(
    server: ServerProcess, store: CaptureStore
) -> None:
    big = {"inputs": {"x": [[0.125, 0.25, 0.5]] * 2000, "k": list(range(2000))}}
    assert server.post("/v1/models/tiny:predict", big).status == 200
    dropped = wait_for_metric(
        server, "modelship_capture_dropped_total", 1,
        model="tiny", version="1", reason=DROP_BYTE_BUDGET,
    )  # fmt: skip
    assert dropped >= 1
    assert all(len(r["inputs"].get("x", [])) < 2000 for r in all_records(store))
    sampled = server.metric("modelship_capture_sampled_total", model="tiny", version="1")
    assert sampled >= 4


@pytest.fixture
def silent_s3() -> Iterator[socket.socket]:
    """A TCP listener that accepts connections and never answers: an S3 that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener
    finally:
        listener.close()


def test_a_full_queue_drops_and_counts_while_requests_are_answered(
    tiny_model: Path, tmp_path: Path, silent_s3: socket.socket
) -> None:
    port = silent_s3.getsockname()[1]
    running = start_server(
        "tiny", tiny_model, tmp_path / "serve.log",
        "--capture-storage-uri", "s3://capture-test/hung", "--capture-sample-rate", "1",
        "--capture-queue-size", "1", "--capture-flush-seconds", "0.05",
        env={
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "a",
            "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "us-east-1",
        },
    )  # fmt: skip
    try:
        running.wait_ready()
        body = {"inputs": {"x": [[1.0, 2.0, 3.0]], "k": [1]}}
        assert running.post("/v1/models/tiny:predict", body).status == 200
        silent_s3.settimeout(WAIT_SECONDS)
        connection, _ = silent_s3.accept()  # the writer is now stuck writing that batch
        try:
            for _ in range(4):
                assert running.post("/v1/models/tiny:predict", body).status == 200
            # One record fits in the queue behind the stuck batch; the other three drop.
            assert running.metric(
                "modelship_capture_dropped_total", model="tiny", version="1",
                reason=DROP_QUEUE_FULL,
            ) == 3  # fmt: skip
        finally:
            connection.close()
    finally:
        running.terminate()
