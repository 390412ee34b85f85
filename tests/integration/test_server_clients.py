"""Third-party clients, unchanged, against a real `modelship serve`: NVIDIA's tritonclient
(HTTP with and without the binary tensor extension, and gRPC), TensorFlow Serving's own gRPC
stubs (tensorflow-serving-api), grpc.health.v1 and server reflection. Every answer is
compared with the same signature called in-process.

One server (REST and gRPC on free ports) is shared by the whole module.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.test_server_api import (
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
    running = start_server(
        "tiny", tiny_model, log, "--max-body-bytes", str(MAX_MESSAGE_BYTES),
        "--log-format", "json", "--access-log-sample", "1",
    )  # fmt: skip
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
    import tritonclient.http as httpclient
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
    top = [httpclient.InferRequestedOutput("y", class_count=1)]
    with pytest.raises(InferenceServerException, match="classification extension"):
        triton_http.infer("tiny", http_inputs(True), outputs=top)


# -- gRPC: tritonclient.grpc ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def triton_grpc(server: ServerProcess) -> Any:
    import tritonclient.grpc as grpcclient

    return grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")


def grpc_inputs(x: np.ndarray[Any, Any] = X, k: np.ndarray[Any, Any] = K) -> list[Any]:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import np_to_triton_dtype

    first = grpcclient.InferInput("x", list(x.shape), np_to_triton_dtype(x.dtype))
    first.set_data_from_numpy(x)
    second = grpcclient.InferInput("k", list(k.shape), np_to_triton_dtype(k.dtype))
    second.set_data_from_numpy(k)
    return [first, second]


def test_tritonclient_grpc_sees_a_live_ready_server_and_the_model(triton_grpc: Any) -> None:
    assert triton_grpc.is_server_live() and triton_grpc.is_server_ready()
    assert triton_grpc.is_model_ready("tiny") and triton_grpc.is_model_ready("tiny", "1")
    assert "binary_tensor_data" in triton_grpc.get_server_metadata().extensions
    metadata = triton_grpc.get_model_metadata("tiny", as_json=True)
    assert metadata["versions"] == ["1"] and metadata["platform"] == "tensorflow_savedmodel"
    assert {"name": "x", "datatype": "FP32", "shape": ["-1", "3"]} in metadata["inputs"]


def test_tritonclient_grpc_infer_equals_in_process(
    triton_grpc: Any, expected: dict[str, np.ndarray[Any, Any]]
) -> None:
    import tritonclient.grpc as grpcclient

    result = triton_grpc.infer("tiny", grpc_inputs(), request_id="r7")
    assert close(result.as_numpy("y"), expected["y"])
    assert result.as_numpy("ids").tolist() == expected["ids"].tolist()
    assert result.get_response().id == "r7"
    only_y = triton_grpc.infer(
        "tiny", grpc_inputs(), outputs=[grpcclient.InferRequestedOutput("y")], model_version="1"
    )
    assert [o.name for o in only_y.get_response().outputs] == ["y"]
    names = grpcclient.InferInput("name", [2], "BYTES")
    names.set_data_from_numpy(np.array([b"bob", b"\xff\x00raw"], dtype=object))
    greeting = triton_grpc.infer("tiny", [names], parameters={"signature_name": "greet"})
    assert greeting.as_numpy("greeting").tolist() == [b"hello bob", b"hello \xff\x00raw"]


def test_tritonclient_grpc_errors_carry_the_status_and_the_problem(triton_grpc: Any) -> None:
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as caught:
        triton_grpc.infer("tiny", grpc_inputs(x=np.zeros((2, 4), np.float32), k=K[:2]))
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "input 'x' expects shape [-1, 3] but got [2, 4]" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        triton_grpc.infer("tiny", grpc_inputs(x=X.astype(np.float64)))
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "input 'x' has datatype FP64 but the model expects FP32" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        triton_grpc.infer("other", grpc_inputs())
    assert caught.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as caught:
        triton_grpc.infer("tiny", grpc_inputs(), model_version="2")
    assert caught.value.status() == "StatusCode.NOT_FOUND"
    assert "has no version 2; version 1 is served" in caught.value.message()


# -- gRPC: TensorFlow Serving's own stubs ----------------------------------------------------


@pytest.fixture(scope="module")
def tf_serving(server: ServerProcess) -> Iterator[tuple[Any, Any]]:
    """(PredictionServiceStub, ModelServiceStub) on one channel."""
    import grpc

    pytest.importorskip(
        "tensorflow_serving.apis.prediction_service_pb2_grpc",
        reason="tensorflow-serving-api is installed with `pip install --no-deps "
        "tensorflow-serving-api` (its own requirement would pull `tensorflow` beside "
        "tensorflow-cpu)",
    )
    from tensorflow_serving.apis import (
        model_service_pb2_grpc,
        prediction_service_pb2_grpc,
    )

    channel = grpc.insecure_channel(
        f"127.0.0.1:{server.grpc_port}",
        options=[("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES)],
    )
    try:
        yield (
            prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel),
        )
    finally:
        channel.close()


def predict_request(signature: str = "", version: int | None = None, **inputs: Any) -> Any:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tiny"
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def test_tf_serving_predict_equals_in_process(
    tf_serving: tuple[Any, Any],
    expected: dict[str, np.ndarray[Any, Any]],
    in_process: InProcess,
) -> None:
    import tensorflow as tf

    predict, _ = tf_serving
    response = predict.Predict(predict_request(x=X, k=K), timeout=60)
    assert close(tf.make_ndarray(response.outputs["y"]), expected["y"])
    assert tf.make_ndarray(response.outputs["ids"]).tolist() == expected["ids"].tolist()
    # Clients that read the typed field directly, as TF Serving answers.
    assert close(np.reshape(response.outputs["y"].float_val, (3, 2)), expected["y"])
    assert response.model_spec.name == "tiny" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    filtered = predict_request(version=1, x=X, k=K)
    filtered.output_filter.append("ids")
    assert set(predict.Predict(filtered, timeout=60).outputs) == {"ids"}
    scores = predict.Predict(predict_request("scores", x=X), timeout=60)
    assert close(tf.make_ndarray(scores.outputs["scores"]), in_process("scores", x=X)["scores"])


def test_tf_serving_metadata_and_status(tf_serving: tuple[Any, Any]) -> None:
    predict, models = tf_serving
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tiny"
    response = predict.GetModelMetadata(request, timeout=60)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {
        "serving_default",
        "scores",
        "greet",
        "classify",
        "regress",
    }
    x = signatures.signature_def["serving_default"].inputs["x"]
    assert [d.size for d in x.tensor_shape.dim] == [-1, 3] and x.dtype == 1  # DT_FLOAT
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "tiny"
    status = models.GetModelStatus(status_request, timeout=60).model_version_status
    assert [(s.version, s.state) for s in status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]


def test_tf_serving_classify_and_regress_equal_in_process(
    tf_serving: tuple[Any, Any], in_process: InProcess
) -> None:
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    from tests.integration.test_server_api import serialized_examples

    predict, _ = tf_serving
    examples = serialized_examples(X.tolist())
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "tiny"
    classify.model_spec.signature_name = "classify"
    for row in X:
        classify.input.example_list.examples.add().features.feature["x"].float_list.value.extend(
            row
        )
    result = predict.Classify(classify, timeout=60).result
    scores = in_process("classify", inputs=examples)["scores"]
    for classes, row in zip(result.classifications, scores, strict=True):
        assert [c.label for c in classes.classes] == ["neg", "pos"]
        assert close([c.score for c in classes.classes], row)
    # The features shared by all examples may come once, in the context.
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "tiny"
    context = regress.input.example_list_with_context
    context.context.features.feature["x"].float_list.value.extend(X[0])
    context.examples.add()
    values = [r.value for r in predict.Regress(regress, timeout=60).result.regressions]
    assert close(values, in_process("regress", inputs=examples[:1])["outputs"][:, 0])


def test_tf_serving_errors_are_the_status_codes_they_mean(
    tf_serving: tuple[Any, Any], server: ServerProcess
) -> None:
    import grpc
    from tensorflow_serving.apis import classification_pb2

    predict, _ = tf_serving

    def code_and_message(call: Any, request: Any) -> tuple[Any, str]:
        with pytest.raises(grpc.RpcError) as caught:
            call(request, timeout=60)
        return caught.value.code(), caught.value.details()

    wrong_dtype = predict_request(x=X.astype(np.float64), k=K)
    code, message = code_and_message(predict.Predict, wrong_dtype)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 'x' has dtype DT_DOUBLE but the model expects DT_FLOAT" in message
    code, message = code_and_message(predict.Predict, predict_request(x=X[:, :2], k=K))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "input 'x' expects shape [-1, 3]" in message
    code, message = code_and_message(predict.Predict, predict_request(x=X))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "input 'k' is missing" in message
    unknown = predict_request(x=X, k=K)
    unknown.model_spec.name = "other"
    code, message = code_and_message(predict.Predict, unknown)
    assert code == grpc.StatusCode.NOT_FOUND and "model 'other' is not served here" in message
    code, message = code_and_message(predict.Predict, predict_request(version=2, x=X, k=K))
    assert code == grpc.StatusCode.NOT_FOUND and "has no version 2" in message
    labelled = predict_request(x=X, k=K)
    labelled.model_spec.version_label = "stable"
    code, message = code_and_message(predict.Predict, labelled)
    assert code == grpc.StatusCode.NOT_FOUND and "version label 'stable'" in message
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "tiny"
    classify.model_spec.signature_name = "scores"
    classify.input.example_list.examples.add()
    code, message = code_and_message(predict.Classify, classify)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "method_name tensorflow/serving/classify" in message
    big = np.zeros((MAX_MESSAGE_BYTES // 12 + 10, 3), np.float32)
    code, _ = code_and_message(
        predict.Predict, predict_request(x=big, k=np.zeros(len(big), np.int64))
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Bytes that are no PredictRequest at all.
    import grpc as grpc_module

    channel = grpc_module.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    garbage = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    code, message = code_and_message(garbage, b"\xff\xff\xff\xff")
    channel.close()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid tensorflow.serving.PredictRequest" in message
    # And the server still answers.
    assert predict.Predict(predict_request(x=X, k=K), timeout=60).outputs["y"].float_val


# -- gRPC: health and reflection -------------------------------------------------------------


def test_grpc_health_says_serving(server: ServerProcess) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in (
            "",
            "tensorflow.serving.PredictionService",
            "inference.GRPCInferenceService",
        ):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, service


def test_reflection_lists_and_describes_the_services(server: ServerProcess) -> None:
    import grpc
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {
            "tensorflow.serving.PredictionService",
            "tensorflow.serving.ModelService",
            "inference.GRPCInferenceService",
            "grpc.health.v1.Health",
        } <= services
        pool = DescriptorPool(database)
        predict = pool.FindServiceByName("tensorflow.serving.PredictionService")
        assert {m.name for m in predict.methods} >= {
            "Predict",
            "Classify",
            "Regress",
            "GetModelMetadata",
        }
        infer = pool.FindMessageTypeByName("inference.ModelInferRequest")
        assert "raw_input_contents" in infer.fields_by_name
        # A method's file, as ghz and `grpcurl describe <service>.<method>` ask for it.
        method = database.FindFileContainingSymbol("tensorflow.serving.PredictionService.Predict")
        assert method.name == "tensorflow_serving.proto"


def test_grpc_calls_are_counted_by_protocol(server: ServerProcess, triton_grpc: Any) -> None:
    labels = {"model": "tiny", "version": "1", "api": "model_infer", "protocol": "grpc"}
    before = server.metric("modelship_requests_total", **labels, code="OK")
    triton_grpc.infer("tiny", grpc_inputs())
    assert server.metric("modelship_requests_total", **labels, code="OK") == before + 1


def test_logs_are_json_lines_with_an_access_line_per_call(
    server: ServerProcess, triton_grpc: Any, triton_http: Any
) -> None:
    triton_grpc.infer("tiny", grpc_inputs())
    triton_http.infer("tiny", http_inputs(True))
    # TensorFlow's own C++ start-up lines bypass Python logging; every line of ours is JSON.
    text = server.log.read_text(errors="replace")
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("listening on http://") for line in lines)
    access = [line for line in lines if line["logger"] == "modelship.access"]
    assert {"protocol": "grpc", "target": "/inference.GRPCInferenceService/ModelInfer",
            "code": "OK"}.items() <= access[-2].items()  # fmt: skip
    assert {"protocol": "rest", "target": "/v2/models/tiny/infer", "code": 200}.items() <= (
        access[-1].items()
    )


# -- KServe's Python client (a process of its own) ---------------------------------------------

# KServe's gRPC module and tritonclient.grpc both register `inference.*` in protobuf's default
# descriptor pool, so KServe's client runs in a separate process, as a real client would.
KSERVE_CLIENT = """
import asyncio, json, sys
import httpx, numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

rest_port, grpc_port = sys.argv[1], sys.argv[2]
x = np.array(json.loads(sys.argv[3]), np.float32)
k = np.array(json.loads(sys.argv[4]), np.int64)

def request(x, binary):
    inputs = [InferInput("x", list(x.shape), "FP32"), InferInput("k", list(k.shape), "INT64")]
    inputs[0].set_data_from_numpy(x, binary_data=binary)
    inputs[1].set_data_from_numpy(k, binary_data=binary)
    return InferRequest("tiny", infer_inputs=inputs)

async def main():
    found = {}
    rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
    base = f"http://127.0.0.1:{rest_port}"
    for binary in (False, True):
        response = await rest.infer(base, request(x, binary), model_name="tiny")
        outputs = {o.name: o.as_numpy().tolist() for o in response.outputs}
        found[f"rest binary={binary}"] = outputs
    try:
        await rest.infer(base, request(np.zeros((2, 4), np.float32), False), model_name="tiny")
    except httpx.HTTPStatusError as err:
        found["rest error"] = str(err)
    grpc_client = InferenceGRPCClient(f"127.0.0.1:{grpc_port}")
    response = await grpc_client.infer(request(x, True))
    found["grpc"] = {o.name: o.as_numpy().tolist() for o in response.outputs}
    found["grpc ready"] = await grpc_client.is_model_ready("tiny")
    print(json.dumps(found))

asyncio.run(main())
"""


def test_kserve_client_over_rest_and_grpc(
    server: ServerProcess, expected: dict[str, np.ndarray[Any, Any]]
) -> None:
    # Looked up, not imported: importing kserve here would clash with tritonclient.grpc.
    if importlib.util.find_spec("kserve") is None:
        pytest.skip("KServe's client: pip install kserve (in the dev extra)")
    ran = subprocess.run(
        [sys.executable, "-c", KSERVE_CLIENT, str(server.port), str(server.grpc_port),
         json.dumps(X.tolist()), json.dumps(K.tolist())],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    for way in ("rest binary=False", "rest binary=True", "grpc"):
        assert close(found[way]["y"], expected["y"]), way
        assert found[way]["ids"] == expected["ids"].tolist(), way
    # The client reads the message only from a Content-Type of exactly application/json.
    assert "input 'x' expects shape [-1, 3] but got [2, 4]" in found["rest error"]
    assert found["grpc ready"] is True


def test_grpc_only_keeps_health_and_metrics_on_http(
    tiny_model: Path, tmp_path: Path, expected: dict[str, np.ndarray[Any, Any]]
) -> None:
    """spec.serving.protocols: [grpc] runs `modelship serve --no-rest`."""
    import tritonclient.grpc as grpcclient

    running = start_server("tiny", tiny_model, tmp_path / "serve.log", "--no-rest")
    try:
        running.wait_ready()  # the kubelet's probe path still answers
        assert running.get("/v1/models/tiny").status == 404
        assert running.post("/v2/models/tiny/infer", {"inputs": []}).status == 404
        assert "modelship_model_ready" in running.get("/metrics").body
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{running.grpc_port}")
        assert close(client.infer("tiny", grpc_inputs()).as_numpy("y"), expected["y"])
    finally:
        assert running.terminate() == 0, running.log_text()
