"""`modelship serve` as a real process on 127.0.0.1, against a tiny SavedModel with predict,
classify, regress and string signatures: every API answers what the same signature answers
in-process, and bad requests get clear errors without disturbing the server.

One server is shared by the whole module (each start costs a TensorFlow import).
The helpers at the top are reused by test_server_lifecycle.py.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.tf]

STARTUP_SECONDS = 240  # a TensorFlow import on a busy two-core machine
MAX_BODY_BYTES = 64 * 1024


@dataclass
class Reply:
    status: int
    body: Any  # parsed JSON, or the raw text when it is not JSON
    headers: dict[str, str]


@dataclass
class ServerProcess:
    """A `modelship serve` subprocess and the port it listens on."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            data = raw if raw is not None else None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data is not None else {}
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            try:
                parsed: Any = json.loads(text)
            except ValueError:
                parsed = text
            return Reply(response.status, parsed, dict(response.getheaders()))
        finally:
            connection.close()

    @property
    def grpc_port(self) -> int:
        """The gRPC port, from the log line the server writes once it listens there."""
        found = re.search(r"gRPC on 127\.0\.0\.1:(\d+)", self.log.read_text(errors="replace"))
        assert found, self.log_text()
        return int(found[1])

    def get(self, path: str) -> Reply:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None, raw: bytes | None = None) -> Reply:
        return self.call("POST", path, body, raw)

    def metric(self, name: str, **labels: str) -> float:
        """One sample from /metrics (0 when the series does not exist yet)."""
        text = self.get("/metrics").body
        for line in text.splitlines():
            match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
            if not match or match[1] != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(match[3])
        return 0.0

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            self.check_running()
            if self.get("/v2/health/ready").status == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"the server was not ready in time:\n{self.log_text()}")

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"the server exited with {self.process.returncode}:\n{self.log_text()}"
            )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def terminate(self) -> int:
        """SIGTERM, then the exit code (SIGKILL after a minute, so a test never hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the server ignored SIGTERM:\n{self.log_text()}") from None


def start_server(
    model_name: str, base_path: Path, log: Path, *flags: str, env: dict[str, str] | None = None
) -> ServerProcess:
    """Start `modelship serve` on free ports of 127.0.0.1 (REST and gRPC); returns once it
    listens."""
    command = [
        sys.executable, "-c", "from modelship.cli import main; main()", "serve",
        "--model-name", model_name, "--model-base-path", str(base_path),
        "--host", "127.0.0.1", "--port", "0", "--grpc-port", "0", *flags,
    ]  # fmt: skip
    # The termination log goes next to the log unless a test names it (never /dev/...).
    environment = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MODELSHIP_TERMINATION_LOG": f"{log}.termination",
        **(env or {}),
    }
    process = subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=environment
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        found = re.search(
            r"listening on http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace")
        )
        if found:
            return ServerProcess(process, int(found[1]), log)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the server did not start:\n{log.read_text(errors='replace')}")


def write_tiny_model(path: Path) -> Path:
    """A TF1-style SavedModel (as Estimators exported them) with five signatures:
    serving_default (x float32[-1,3], k int64[-1] -> y float32[-1,2], ids int64[-1]),
    scores (x -> scores), greet (name string -> greeting string), and classify / regress
    over serialized tf.train.Examples with a float feature x of length 3."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        k = v1.placeholder(tf.int64, [None], name="k")
        w = tf.Variable([[1.0, -1.0], [0.5, 2.0], [-2.0, 0.25]], name="w")
        logits = tf.matmul(x, w)
        name = v1.placeholder(tf.string, [None], name="name")
        serialized = v1.placeholder(tf.string, [None], name="examples")
        parsed = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([3], tf.float32)})
        labels = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(serialized)[0], 1])
        saved = v1.saved_model
        signatures = {
            "serving_default": saved.predict_signature_def(
                {"x": x, "k": k},
                {"y": logits + tf.cast(tf.expand_dims(k, 1), tf.float32), "ids": k * 2},
            ),
            "scores": saved.predict_signature_def({"x": x}, {"scores": tf.nn.softmax(logits)}),
            "greet": saved.predict_signature_def(
                {"name": name}, {"greeting": tf.strings.join(["hello ", name])}
            ),
            "classify": saved.classification_signature_def(
                serialized, labels, tf.nn.softmax(tf.matmul(parsed["x"], w))
            ),
            "regress": saved.regression_signature_def(
                serialized, tf.reduce_sum(parsed["x"], axis=1, keepdims=True)
            ),
        }
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = saved.Builder(str(path))
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=signatures)
            builder.save()
    return path


def serialized_examples(rows: list[list[float]]) -> np.ndarray[Any, Any]:
    import tensorflow as tf

    return np.array(
        [
            tf.train.Example(
                features=tf.train.Features(
                    feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=row))}
                )
            ).SerializeToString()
            for row in rows
        ],
        dtype=object,
    )


class InProcess:
    """The same SavedModel loaded in the test process: the answers to compare against."""

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._model = tf.saved_model.load(str(path))

    def __call__(self, signature: str, **inputs: Any) -> dict[str, np.ndarray[Any, Any]]:
        function = self._model.signatures[signature]
        tensors = {k: self._tf.constant(v) for k, v in inputs.items()}
        return {k: v.numpy() for k, v in function(**tensors).items()}


# -- the shared server ---------------------------------------------------------------------

X = [[1.0, 2.0, 3.0], [0.0, -1.5, 0.25], [4.0, 0.5, -2.0]]
K = [4, 1, -3]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tiny")
    write_tiny_model(base / "1")
    return base


@pytest.fixture(scope="module")
def in_process(tiny_model: Path) -> InProcess:
    return InProcess(tiny_model / "1")


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    running = start_server(
        "tiny", tiny_model, log,
        "--max-batch-size", "8", "--batch-timeout-micros", "1000",
        "--max-body-bytes", str(MAX_BODY_BYTES),
    )  # fmt: skip
    try:
        running.wait_ready()
        yield running
    finally:
        assert running.terminate() == 0, running.log_text()


def close(actual: Any, expected: np.ndarray[Any, Any]) -> bool:
    return bool(np.allclose(np.asarray(actual, dtype=np.float64), expected, atol=1e-5, rtol=0))


# -- TF Serving REST -----------------------------------------------------------------------


def test_status_and_metadata_describe_the_loaded_version(server: ServerProcess) -> None:
    status = server.get("/v1/models/tiny")
    assert status.status == 200
    assert status.body == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert server.get("/v1/models/tiny/versions/1").status == 200
    metadata = server.get("/v1/models/tiny/metadata").body
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "scores", "greet", "classify", "regress"}
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"
    # TF Serving's JSON of the google.protobuf.Any names the type packed in it.
    assert (
        metadata["metadata"]["signature_def"]["@type"]
        == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    )
    x = signatures["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in x["tensor_shape"]["dim"]] == ["-1", "3"]


def test_row_format_predictions_equal_in_process_results(
    server: ServerProcess, in_process: InProcess
) -> None:
    expected = in_process("serving_default", x=np.array(X, np.float32), k=np.array(K))
    instances = [{"x": x, "k": k} for x, k in zip(X, K, strict=True)]
    reply = server.post("/v1/models/tiny:predict", {"instances": instances})
    assert reply.status == 200, reply.body
    predictions = reply.body["predictions"]
    assert close([p["y"] for p in predictions], expected["y"])
    assert [p["ids"] for p in predictions] == expected["ids"].tolist()
    # With a version in the path, and with a single-input signature's plain instances.
    scores = in_process("scores", x=np.array(X, np.float32))["scores"]
    reply = server.post(
        "/v1/models/tiny/versions/1:predict", {"signature_name": "scores", "instances": X}
    )
    assert reply.status == 200 and close(reply.body["predictions"], scores)


def test_columnar_predictions_equal_in_process_results(
    server: ServerProcess, in_process: InProcess
) -> None:
    expected = in_process("serving_default", x=np.array(X, np.float32), k=np.array(K))
    reply = server.post("/v1/models/tiny:predict", {"inputs": {"x": X, "k": K}})
    assert reply.status == 200, reply.body
    assert close(reply.body["outputs"]["y"], expected["y"])
    assert reply.body["outputs"]["ids"] == expected["ids"].tolist()
    reply = server.post("/v1/models/tiny:predict", {"signature_name": "scores", "inputs": X})
    assert close(reply.body["outputs"], in_process("scores", x=np.array(X, np.float32))["scores"])


def test_strings_travel_as_text_and_base64(server: ServerProcess) -> None:
    reply = server.post(
        "/v1/models/tiny:predict",
        {"signature_name": "greet", "instances": ["bob", {"b64": "YWxpY2U="}]},
    )
    assert reply.status == 200, reply.body
    assert reply.body == {"predictions": ["hello bob", "hello alice"]}


def test_classify_and_regress_equal_in_process_results(
    server: ServerProcess, in_process: InProcess
) -> None:
    examples = serialized_examples(X)
    body = {"examples": [{"x": x} for x in X]}
    classify = server.post("/v1/models/tiny:classify", {"signature_name": "classify", **body})
    assert classify.status == 200, classify.body
    scores = in_process("classify", inputs=examples)["scores"]
    for pairs, row in zip(classify.body["result"], scores, strict=True):
        assert [label for label, _ in pairs] == ["neg", "pos"]
        assert close([score for _, score in pairs], row)
    regress = server.post("/v1/models/tiny:regress", body)  # the one regress signature
    assert regress.status == 200, regress.body
    expected = in_process("regress", inputs=examples)["outputs"][:, 0]
    assert close(regress.body["result"], expected)


def test_classify_needs_a_classify_signature(server: ServerProcess) -> None:
    reply = server.post(
        "/v1/models/tiny:classify", {"signature_name": "scores", "examples": [{"x": X[0]}]}
    )
    assert reply.status == 400
    assert "method_name tensorflow/serving/classify" in reply.body["error"]
    assert "signatures that can: classify" in reply.body["error"]


# -- Open Inference Protocol -----------------------------------------------------------------


def test_v2_infer_equals_in_process_results(server: ServerProcess, in_process: InProcess) -> None:
    expected = in_process("serving_default", x=np.array(X, np.float32), k=np.array(K))
    flat = [v for row in X for v in row]
    reply = server.post(
        "/v2/models/tiny/infer",
        {
            "id": "abc",
            "inputs": [
                {"name": "x", "shape": [3, 3], "datatype": "FP32", "data": flat},
                {"name": "k", "shape": [3], "datatype": "INT64", "data": K},
            ],
        },
    )
    assert reply.status == 200, reply.body
    assert reply.body["model_name"] == "tiny" and reply.body["model_version"] == "1"
    assert reply.body["id"] == "abc"
    outputs = {o["name"]: o for o in reply.body["outputs"]}
    assert outputs["y"]["datatype"] == "FP32" and outputs["y"]["shape"] == [3, 2]
    assert close(np.reshape(outputs["y"]["data"], (3, 2)), expected["y"])
    assert outputs["ids"] == {
        "name": "ids", "datatype": "INT64", "shape": [3], "data": expected["ids"].tolist()
    }  # fmt: skip
    nested = server.post(
        "/v2/models/tiny/versions/1/infer",
        {
            "inputs": [
                {"name": "x", "shape": [3, 3], "datatype": "FP32", "data": X},
                {"name": "k", "shape": [3], "datatype": "INT64", "data": K},
            ],
            "outputs": [{"name": "y"}],
        },
    )
    assert nested.status == 200, nested.body
    assert [o["name"] for o in nested.body["outputs"]] == ["y"]
    assert close(np.reshape(nested.body["outputs"][0]["data"], (3, 2)), expected["y"])


def test_v2_health_and_model_metadata(server: ServerProcess) -> None:
    assert server.get("/v2/health/live").status == 200
    assert server.get("/v2/health/ready").status == 200
    assert server.get("/v2/models/tiny/ready").body == {"name": "tiny", "ready": True}
    metadata = server.get("/v2/models/tiny").body
    assert metadata["versions"] == ["1"] and metadata["platform"] == "tensorflow_savedmodel"
    assert {"name": "x", "datatype": "FP32", "shape": [-1, 3]} in metadata["inputs"]


# -- bad requests ----------------------------------------------------------------------------

PREDICT = "/v1/models/tiny:predict"
INFER = "/v2/models/tiny/infer"


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        (PREDICT, b'{"instances": [', 400, "not valid JSON"),
        (PREDICT, b"", 400, "the request body is empty"),
        (PREDICT, b"[" * 2000, 400, "nests lists or objects too deeply"),
        (INFER, b'{"inputs": ' + b"[" * 5000, 400, "nests lists or objects too deeply"),
        (
            PREDICT,
            b'{"signature_name": "scores", "instances": ' + b"[" * 900 + b"1" + b"]" * 900 + b"}",
            400,
            "input 'x'",
        ),
        (PREDICT, {"instances": [{"x": X[0], "k": 1, "z": 2}]}, 400, "unknown input 'z'"),
        (PREDICT, {"instances": [{"x": X[0]}]}, 400, "missing input 'k'"),
        (
            PREDICT,
            {"instances": [{"x": [1, 2], "k": 1}]},
            400,
            "expects shape [-1, 3] but got [1, 2]",
        ),
        (PREDICT, {"instances": [{"x": X[0], "k": 1.5}]}, 400, "input 'k' expects int64"),
        (
            PREDICT,
            {"instances": [{"x": ["a", 1, 2], "k": 1}]},
            400,
            "expects float32 values but got strings",
        ),
        (
            PREDICT,
            {"signature_name": "scores", "instances": [[1, 2, 3], [1]]},
            400,
            "not a rectangular array",
        ),
        (PREDICT, {"signature_name": "nope", "instances": X}, 400, "no signature 'nope'"),
        (
            INFER,
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]}]},
            400,
            "datatype INT64 but the model expects FP32",
        ),
        (
            INFER,
            {"inputs": [{"name": "q", "shape": [1], "datatype": "FP32", "data": [1]}]},
            400,
            "unknown input 'q'",
        ),
        ("/v1/models/other:predict", {"instances": X}, 404, "model 'other' is not served here"),
        (
            "/v1/models/tiny/versions/2:predict",
            {"instances": X},
            404,
            "has no version 2; version 1 is served",
        ),
        ("/v2/models/other/infer", {"inputs": []}, 404, "model 'other' is not served here"),
        ("/v1/models/tiny:explain", {"instances": X}, 404, "unknown method ':explain'"),
    ],
)
def test_bad_requests_are_refused_with_the_problem_named(
    server: ServerProcess, path: str, body: Any, status: int, words: str
) -> None:
    reply = server.post(path, raw=body) if isinstance(body, bytes) else server.post(path, body)
    assert reply.status == status
    assert set(reply.body) >= {"error"} and words in reply.body["error"], reply.body


def test_answers_are_typed_application_json_exactly(server: ServerProcess) -> None:
    # KServe's Python client compares the Content-Type with "application/json" as a string:
    # a "; charset=utf-8" suffix made it drop the error message.
    for reply in (
        server.post(PREDICT, raw=b"{nope"),
        server.get("/v1/models/other"),
        server.post(PREDICT, {"inputs": {"x": X, "k": K}}),
        server.get("/v2"),
    ):
        assert reply.headers["Content-Type"] == "application/json", reply.headers
    assert "binary_tensor_data" in server.get("/v2").body["extensions"]


def test_deep_nesting_is_bad_input_not_a_server_fault(server: ServerProcess) -> None:
    assert server.post(PREDICT, raw=b"[" * 60_000).status == 400
    assert server.post(PREDICT, {"inputs": {"x": X, "k": K}}).status == 200
    assert "Traceback" not in server.log_text()


def test_a_body_over_the_limit_is_refused_with_413(server: ServerProcess) -> None:
    padding = "0" * MAX_BODY_BYTES
    reply = server.post(PREDICT, raw=f'{{"instances": [], "pad": "{padding}"}}'.encode())
    assert reply.status == 413
    assert f"limit of {MAX_BODY_BYTES} bytes" in reply.body["error"]


def test_the_server_keeps_serving_after_bad_requests(
    server: ServerProcess, in_process: InProcess
) -> None:
    for _ in range(3):
        assert server.post(PREDICT, raw=b"{nope").status == 400
        assert server.post(PREDICT, {"instances": [{"x": [1], "k": 1}]}).status == 400
    reply = server.post(PREDICT, {"inputs": {"x": X, "k": K}})
    assert reply.status == 200
    expected = in_process("serving_default", x=np.array(X, np.float32), k=np.array(K))["y"]
    assert close(reply.body["outputs"]["y"], expected)
    assert server.get("/v2/health/ready").status == 200


def test_metrics_count_requests_errors_and_batches_by_model_and_version(
    server: ServerProcess,
) -> None:
    labels = {"model": "tiny", "version": "1", "api": "predict"}
    ok_before = server.metric("modelship_requests_total", **labels, code="200")
    errors_before = server.metric("modelship_request_errors_total", **labels, code="400")
    assert server.post(PREDICT, {"inputs": {"x": X, "k": K}}).status == 200
    assert server.post(PREDICT, raw=b"[").status == 400
    assert server.metric("modelship_requests_total", **labels, code="200") == ok_before + 1
    assert (
        server.metric("modelship_request_errors_total", **labels, code="400") == errors_before + 1
    )
    assert server.metric("modelship_request_duration_seconds_count", **labels) >= 2
    assert (
        server.metric(
            "modelship_batch_size_count", model="tiny", version="1", signature="serving_default"
        )
        >= 1
    )
    assert server.metric("modelship_model_ready", model="tiny", version="1") == 1.0
