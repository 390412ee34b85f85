"""`modelship serve` serving a TensorFlow Lite version: published by `modelship optimize` to
the real S3 server, pulled as the init container pulls it, and answered over the same REST
and v2 APIs as its SavedModel source, which a second server serves beside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from modelship.artifacts import ArtifactStore, S3Settings, make_s3_client, parse_storage_uri
from modelship.training.optimization import OptimizationRequest, run_optimization
from tests.integration.test_server_api import ServerProcess, start_server
from tests.models import write_classifier, write_classifier_evaluation

pytestmark = [pytest.mark.integration, pytest.mark.tf]

ROWS = 6


@dataclass
class Servers:
    source: ServerProcess  # version 1, the SavedModel
    tflite: ServerProcess  # version 2, its DynamicRange quantization
    x: np.ndarray[Any, Any]
    labels: np.ndarray[Any, Any]


@pytest.fixture(scope="module")
def servers(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    client = s3_server.client()
    bucket = "tflite-" + tmp_path_factory.mktemp("name").name[-6:].lower().replace("_", "-")
    client.create_bucket(Bucket=bucket)
    folder = tmp_path_factory.mktemp("classifier")
    model = write_classifier(folder / "model")
    evaluation = write_classifier_evaluation(model, folder / "eval.npz")
    client.put_object(Bucket=bucket, Key="eval.npz", Body=evaluation.read_bytes())
    uri = f"s3://{bucket}/classifier"
    settings = S3Settings(
        endpoint=s3_server.endpoint,
        region=s3_server.region,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
    )
    store = ArtifactStore(make_s3_client(settings), parse_storage_uri(uri))
    store.push(model, version=1)
    run_optimization(
        OptimizationRequest(uri, 1, "DynamicRange", f"s3://{bucket}/eval.npz", s3=settings)
    )
    bases = {n: tmp_path_factory.mktemp(f"base-{n}") for n in (1, 2)}
    for number, base in bases.items():
        store.pull(number, base / str(number))  # what the init container does
    logs = tmp_path_factory.mktemp("logs")
    started = [start_server("classifier", bases[n], logs / f"serve-{n}.log") for n in (1, 2)]
    try:
        for server in started:
            server.wait_ready()
        data = np.load(evaluation)
        yield Servers(started[0], started[1], data["x"][:ROWS], data["labels"][:ROWS])
    finally:
        for server in started:
            server.terminate()


def test_the_tflite_version_describes_itself_like_its_source(servers: Servers) -> None:
    status = servers.tflite.get("/v1/models/classifier").body
    assert status["model_version_status"][0]["version"] == "2"
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    source = servers.source.get("/v1/models/classifier/metadata").body["metadata"]
    tflite = servers.tflite.get("/v1/models/classifier/metadata").body["metadata"]
    assert tflite["signature_def"]["signature_def"]["serving_default"] == (
        source["signature_def"]["signature_def"]["serving_default"]
        | {
            # The graph tensor names differ by format; clients use the keys.
            "inputs": {
                k: v | {"name": tflite_name(tflite, "inputs", k)}
                for k, v in source["signature_def"]["signature_def"]["serving_default"][
                    "inputs"
                ].items()
            },
            "outputs": {
                k: v | {"name": tflite_name(tflite, "outputs", k)}
                for k, v in source["signature_def"]["signature_def"]["serving_default"][
                    "outputs"
                ].items()
            },
        }
    )
    v2 = servers.tflite.get("/v2/models/classifier").body
    assert v2["inputs"] == servers.source.get("/v2/models/classifier").body["inputs"]
    assert v2["outputs"] == servers.source.get("/v2/models/classifier").body["outputs"]
    assert v2["versions"] == ["2"]
    assert v2["platform"] == "tflite"


def tflite_name(metadata: dict[str, Any], kind: str, key: str) -> str:
    return str(metadata["signature_def"]["signature_def"]["serving_default"][kind][key]["name"])


def test_predict_answers_match_the_source_in_shape_and_class(servers: Servers) -> None:
    body = {"instances": servers.x.tolist()}
    source = servers.source.post("/v1/models/classifier:predict", body)
    tflite = servers.tflite.post("/v1/models/classifier:predict", body)
    assert source.status == tflite.status == 200, tflite.body
    expected = np.asarray(source.body["predictions"])
    got = np.asarray(tflite.body["predictions"])
    assert got.shape == expected.shape == (ROWS, 8)
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-4)
    assert (got.argmax(axis=1) == servers.labels).mean() >= 5 / 6
    columnar = servers.tflite.post("/v1/models/classifier:predict", {"inputs": servers.x.tolist()})
    assert columnar.status == 200 and np.allclose(columnar.body["outputs"], got, atol=1e-6)


def test_v2_infer_answers_in_the_same_form(servers: Servers) -> None:
    request = {
        "inputs": [
            {"name": "x", "shape": [ROWS, 256], "datatype": "FP32", "data": servers.x.tolist()}
        ]
    }
    source = servers.source.post("/v2/models/classifier/infer", request).body
    tflite = servers.tflite.post("/v2/models/classifier/infer", request).body
    assert tflite["model_version"] == "2"
    [output] = tflite["outputs"]
    [expected] = source["outputs"]
    assert {k: output[k] for k in ("name", "datatype", "shape")} == {
        k: expected[k] for k in ("name", "datatype", "shape")
    }


def test_a_wrong_shape_is_a_bad_request_naming_the_input(servers: Servers) -> None:
    reply = servers.tflite.post("/v1/models/classifier:predict", {"instances": [[0.5] * 255]})
    assert reply.status == 400
    assert "'x'" in reply.body["error"] and "256" in reply.body["error"]
    # ...and the server goes on serving.
    ok = servers.tflite.post("/v1/models/classifier:predict", {"instances": [[0.5] * 256]})
    assert ok.status == 200
