"""parse_spec: what a user writes in a ModelDeployment becomes typed, validated objects, and
anything wrong is refused with the field named and a sentence saying what to write."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from modelship.api import (
    GateSpec,
    GpuSpec,
    ModelDeploymentSpec,
    SecretRef,
    SpecError,
    parse_spec,
)
from modelship.api.duration import parse_duration
from modelship.api.fields import field_doc, json_name

DELETE = object()


def md_spec(changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A minimal valid spec, changed at dotted paths ("serving.gpu.count": 1; DELETE
    removes a key)."""
    spec: dict[str, Any] = {"model": {"storageUri": "s3://models/digits"}}
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return spec


def full_spec() -> dict[str, Any]:
    """Every optional object present, as in the design's example."""
    return md_spec(
        {
            "model.name": "digits",
            "model.version": 3,
            "storage.endpoint": "http://minio.storage:9000",
            "storage.region": "us-east-1",
            "storage.secretRef": {"name": "s3-creds"},
            "storage.pollInterval": "1m",
            "serving.replicas": 2,
            "serving.image": "ghcr.io/modelship/server:0.1.0",
            "serving.resources": {"requests": {"cpu": "500m", "memory": "2Gi"}},
            "serving.gpu": {"count": 1, "product": "NVIDIA-H100-80GB-HBM3"},
            "serving.nodeSelector": {"pool": "gpu"},
            "serving.tolerations": [{"key": "dedicated", "operator": "Exists"}],
            "serving.batching": {"maxBatchSize": 64, "batchTimeoutMicros": 500},
            "rollout.strategy": "Canary",
            "rollout.steps": [{"weight": 10, "pause": "2m"}, {"weight": 50}],
            "rollout.gpuBudget": "Fixed",
            "rollout.traffic": "GatewayAPI",
            "rollout.httpRoute": {"name": "digits"},
            "rollout.progressDeadline": "5m",
            "rollout.analysis": {
                "interval": "30s",
                "failureLimit": 2,
                "metrics": [
                    {
                        "name": "business-kpi",
                        "max": 0.2,
                        "prometheus": {
                            "address": "http://prometheus.monitoring:9090",
                            "query": "sum(kpi)",
                        },
                    },
                    {"name": "latency-p99", "max": "250ms"},
                ],
            },
            "training": {
                "entrypoint": "my_pkg.train:train",
                "workers": 2,
                "gpu": {"count": 1},
                "schedule": "0 3 * * *",
                "dataUri": "s3://data/digits",
                "args": ["--epochs", "3"],
                "gate": {"metric": "accuracy", "min": 0.9, "mustImprove": True},
                "activeDeadline": "6h",
            },
            "monitoring": {
                "capture": {
                    "storageUri": "s3://captures/digits",
                    "sampleRate": 0.01,
                    "maxBytesPerHour": "100Mi",
                    "exclude": ["email"],
                    "mask": {"inputs": ["user_id"], "keySecretRef": {"name": "k", "key": "hmac"}},
                    "sse": {"type": "aws:kms", "kmsKeyId": "alias/captures"},
                    "retention": "720h",
                    "secretRef": {"name": "capture-creds"},
                },
                "drift": {"max": 0.25, "window": "30m", "minSamples": 500, "action": "Retrain"},
            },
            "optimize": {
                "quantization": "Int8",
                "evaluationDataUri": "s3://data/eval/digits.npz",
                "maxMetricDrop": 0.02,
                "activeDeadline": "30m",
            },
        }
    )


def test_a_minimal_spec_gets_every_default() -> None:
    parsed = parse_spec(md_spec(), name="digits")

    assert parsed.model.name == "digits"  # from metadata.name
    assert parsed.model.version is None
    assert parsed.storage.poll_interval == 30.0
    assert parsed.storage.secret_ref is None
    assert parsed.serving.replicas == 1
    assert parsed.serving.gpu == GpuSpec(count=0, resource_name="nvidia.com/gpu", product=None)
    assert parsed.serving.batching.max_batch_size == 32
    assert parsed.serving.batching.batch_timeout_micros == 2000
    assert parsed.serving.progress_deadline == 600.0
    assert parsed.serving.port == 8501
    assert parsed.serving.resources == {}
    assert parsed.serving.node_selector == {}
    assert parsed.serving.tolerations == []
    assert parsed.rollout.strategy == "RollingUpdate"
    assert (parsed.rollout.max_surge, parsed.rollout.max_unavailable) == (1, 0)
    assert parsed.training is None
    assert parsed.monitoring is None


def test_a_full_spec_is_read_field_by_field() -> None:
    parsed = parse_spec(full_spec(), name="ignored")

    assert parsed.model.name == "digits"
    assert parsed.model.version == 3
    assert parsed.storage.endpoint == "http://minio.storage:9000"
    assert parsed.storage.secret_ref == SecretRef(
        name="s3-creds",
        access_key_id_key="AWS_ACCESS_KEY_ID",
        secret_access_key_key="AWS_SECRET_ACCESS_KEY",
    )
    assert parsed.storage.poll_interval == 60.0
    assert parsed.serving.resources == {"requests": {"cpu": "500m", "memory": "2Gi"}}
    assert parsed.serving.gpu.product == "NVIDIA-H100-80GB-HBM3"
    assert parsed.serving.tolerations == [{"key": "dedicated", "operator": "Exists"}]
    training = parsed.training
    assert training is not None
    assert training.entrypoint == "my_pkg.train:train"
    assert training.workers == 2
    assert training.gpu.count == 1
    assert training.args == ["--epochs", "3"]
    assert training.gate == GateSpec(metric="accuracy", min=0.9, must_improve=True)
    assert training.active_deadline == 6 * 3600.0
    assert training.backoff_limit == 1


@pytest.mark.parametrize(
    ("changes", "attribute", "expected"),
    [
        ({"storage.pollInterval": "1h30m"}, "storage.poll_interval", 5400.0),
        ({"rollout.maxSurge": "25%"}, "rollout.max_surge", "25%"),
        ({"rollout.maxUnavailable": 1, "rollout.maxSurge": 0}, "rollout.max_surge", 0),
        ({"model.version": None}, "model.version", None),  # a null is "not set"
        ({"model.version": 0}, "model.version", 0),  # TF Serving's layout allows version 0
        ({"serving.replicas": 0}, "serving.replicas", 0),
        (
            {"serving.gpu.resourceName": "nvidia.com/mig-1g.10gb"},
            "serving.gpu.resource_name",
            "nvidia.com/mig-1g.10gb",
        ),
        (
            {"training": {"entrypoint": "t:main", "gate": {"metric": "acc", "mustImprove": True}}},
            "training.gate.min",
            None,
        ),
        (
            {"training": {"entrypoint": "t:main", "gate": {"metric": "loss", "min": 0}}},
            "training.gate.min",
            0.0,
        ),
        (
            {
                "training": {
                    "entrypoint": "t:main",
                    "env": [
                        {"name": "WANDB_PROJECT", "value": "digits"},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}},
                    ],
                }
            },
            "training.env",
            [
                {"name": "WANDB_PROJECT", "value": "digits"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}},
            ],
        ),
        (
            {"training": {"entrypoint": "t:main", "gate": {"metric": "loss", "max": 0.2}}},
            "training.gate.goal",
            "Maximize",
        ),
        (
            {
                "training": {
                    "entrypoint": "t:main",
                    "gate": {"metric": "loss", "goal": "Minimize", "mustImprove": True},
                }
            },
            "training.gate.goal",
            "Minimize",
        ),
        (
            {"serving.resources": {"limits": {"cpu": 2, "memory": "1.5Gi"}}},
            "serving.resources",
            {"limits": {"cpu": 2, "memory": "1.5Gi"}},
        ),
    ],
)
def test_good_specs(changes: dict[str, Any], attribute: str, expected: Any) -> None:
    value: Any = parse_spec(md_spec(changes), name="digits")
    for part in attribute.split("."):
        value = getattr(value, part)
    assert value == expected


BAD_SPECS: list[tuple[str, dict[str, Any], str, str, str]] = [
    # (case, changes, field, reason, words the message must contain)
    ("no model", {"model": DELETE}, "spec.model", "MissingField", "spec.model is required"),
    (
        "model not an object",
        {"model": "digits"},
        "spec.model",
        "WrongType",
        'spec.model must be an object, not the string "digits"',
    ),
    (
        "no storageUri",
        {"model.storageUri": DELETE},
        "spec.model.storageUri",
        "MissingField",
        "spec.model.storageUri is required",
    ),
    (
        "http storageUri",
        {"model.storageUri": "http://models/digits"},
        "spec.model.storageUri",
        "InvalidValue",
        'spec.model.storageUri "http://models/digits" must look like "s3://',
    ),
    (
        "negative version",
        {"model.version": -1},
        "spec.model.version",
        "OutOfRange",
        "spec.model.version is -1, but must be at least 0",
    ),
    (
        "version as text",
        {"model.version": "3"},
        "spec.model.version",
        "WrongType",
        'spec.model.version must be an integer, not the string "3"',
    ),
    (
        "version as boolean",
        {"model.version": True},
        "spec.model.version",
        "WrongType",
        "must be an integer, not the boolean true",
    ),
    (
        "bad model name",
        {"model.name": "my model"},
        "spec.model.name",
        "InvalidValue",
        'spec.model.name "my model" must look like letters, digits',
    ),
    (
        "negative replicas",
        {"serving.replicas": -1},
        "spec.serving.replicas",
        "OutOfRange",
        "at least 0",
    ),
    (
        "too many GPUs",
        {"serving.gpu.count": 17},
        "spec.serving.gpu.count",
        "OutOfRange",
        "spec.serving.gpu.count is 17, but must be at most 16",
    ),
    (
        "GPU product without GPUs",
        {"serving.gpu.product": "NVIDIA-H100-80GB-HBM3"},
        "spec.serving.gpu.product",
        "ConflictingFields",
        "spec.serving.gpu.product is set but spec.serving.gpu.count is 0",
    ),
    (
        "training GPU product without GPUs",
        {"training": {"entrypoint": "t:main", "gpu": {"product": "NVIDIA-A100"}}},
        "spec.training.gpu.product",
        "ConflictingFields",
        "set spec.training.gpu.count to 1",
    ),
    (
        "GPU in resources",
        {"serving.resources": {"limits": {"nvidia.com/gpu": 1}}},
        "spec.serving.resources",
        "ConflictingFields",
        "set GPUs with spec.serving.gpu.count",
    ),
    (
        "quantity that is not one",
        {"serving.resources": {"limits": {"cpu": "lots"}}},
        "spec.serving.resources.limits.cpu",
        "InvalidValue",
        "must look like a quantity",
    ),
    (
        "resources without requests/limits",
        {"serving.resources": {"cpu": 1}},
        "spec.serving.resources.cpu",
        "UnknownField",
        "is not a field of spec.serving.resources",
    ),
    (
        "poll too often",
        {"storage.pollInterval": "1s"},
        "spec.storage.pollInterval",
        "OutOfRange",
        'spec.storage.pollInterval "1s" must be between 5s and 24h',
    ),
    (
        "poll as a number",
        {"storage.pollInterval": 30},
        "spec.storage.pollInterval",
        "WrongType",
        'must be a duration string such as "30s"',
    ),
    (
        "poll with a bad unit",
        {"storage.pollInterval": "30x"},
        "spec.storage.pollInterval",
        "InvalidValue",
        '"30x" is not a duration',
    ),
    (
        "endpoint without scheme",
        {"storage.endpoint": "minio:9000"},
        "spec.storage.endpoint",
        "InvalidValue",
        "must look like an http(s) URL",
    ),
    (
        "secretRef without name",
        {"storage.secretRef": {}},
        "spec.storage.secretRef.name",
        "MissingField",
        "spec.storage.secretRef.name is required",
    ),
    (
        "unknown strategy",
        {"rollout.strategy": "Recreate"},
        "spec.rollout.strategy",
        "UnsupportedValue",
        'spec.rollout.strategy "Recreate" is not supported: use RollingUpdate, Canary, BlueGreen',
    ),
    (
        "scaleDownDelay without BlueGreen",
        {
            "rollout.strategy": "Canary",
            "rollout.steps": [{"weight": 10}],
            "rollout.scaleDownDelay": "1m",
        },
        "spec.rollout.scaleDownDelay",
        "ConflictingFields",
        "spec.rollout.scaleDownDelay is set but spec.rollout.strategy is not BlueGreen",
    ),
    (
        "GatewayAPI traffic without a route",
        {
            "rollout.strategy": "Canary",
            "rollout.steps": [{"weight": 10}],
            "rollout.traffic": "GatewayAPI",
        },
        "spec.rollout.httpRoute",
        "MissingField",
        "spec.rollout.traffic is GatewayAPI but spec.rollout.httpRoute is not set",
    ),
    (
        "a route without GatewayAPI traffic",
        {
            "rollout.strategy": "Canary",
            "rollout.steps": [{"weight": 10}],
            "rollout.httpRoute": {"name": "web"},
        },
        "spec.rollout.httpRoute",
        "ConflictingFields",
        "spec.rollout.httpRoute is set but spec.rollout.traffic is not GatewayAPI",
    ),
    (
        "GatewayAPI traffic with BlueGreen",
        {
            "rollout.strategy": "BlueGreen",
            "rollout.traffic": "GatewayAPI",
            "rollout.httpRoute": {"name": "web"},
        },
        "spec.rollout.traffic",
        "ConflictingFields",
        "spec.rollout.traffic is GatewayAPI but spec.rollout.strategy is not Canary",
    ),
    (
        "unknown traffic",
        {
            "rollout.strategy": "Canary",
            "rollout.steps": [{"weight": 10}],
            "rollout.traffic": "Istio",
        },
        "spec.rollout.traffic",
        "UnsupportedValue",
        "use Replicas, GatewayAPI",
    ),
    (
        "rollout that cannot move",
        {"rollout.maxSurge": 0},
        "spec.rollout.maxSurge",
        "ConflictingFields",
        "are both 0",
    ),
    (
        "rollout that cannot move, in percent",
        {"rollout.maxSurge": "0%"},
        "spec.rollout.maxSurge",
        "ConflictingFields",
        "are both 0",
    ),
    (
        "surge over 100%",
        {"rollout.maxSurge": "250%"},
        "spec.rollout.maxSurge",
        "InvalidValue",
        'must look like a number, or a percentage such as "25%"',
    ),
    (
        "negative surge",
        {"rollout.maxSurge": -1},
        "spec.rollout.maxSurge",
        "OutOfRange",
        "at least 0",
    ),
    (
        "fractional surge",
        {"rollout.maxSurge": 1.5},
        "spec.rollout.maxSurge",
        "WrongType",
        "must be a number or a string",
    ),
    (
        "bad entrypoint",
        {"training": {"entrypoint": "foo"}},
        "spec.training.entrypoint",
        "InvalidValue",
        'spec.training.entrypoint "foo" must look like "package.module:function"',
    ),
    (
        "training without entrypoint",
        {"training": {"workers": 1}},
        "spec.training.entrypoint",
        "MissingField",
        "spec.training.entrypoint is required",
    ),
    (
        "no workers",
        {"training": {"entrypoint": "t:main", "workers": 0}},
        "spec.training.workers",
        "OutOfRange",
        "at least 1",
    ),
    (
        "gate that checks nothing",
        {"training": {"entrypoint": "t:main", "gate": {"metric": "a"}}},
        "spec.training.gate",
        "MissingField",
        "set spec.training.gate.min, spec.training.gate.max or",
    ),
    (
        "training env sets a variable the operator owns",
        {"training": {"entrypoint": "t:main", "env": [{"name": "TF_CONFIG", "value": "{}"}]}},
        "spec.training.env",
        "InvalidValue",
        "sets a variable the operator sets itself",
    ),
    (
        "training env with a MODELSHIP_ name",
        {"training": {"entrypoint": "t:main", "env": [{"name": "MODELSHIP_X", "value": "1"}]}},
        "spec.training.env",
        "InvalidValue",
        "starting with MODELSHIP_",
    ),
    (
        "training env with both a value and a valueFrom",
        {
            "training": {
                "entrypoint": "t:main",
                "env": [
                    {
                        "name": "A",
                        "value": "1",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ],
            }
        },
        "spec.training.env",
        "ConflictingFields",
        "both value and valueFrom",
    ),
    (
        "training env valueFrom with two sources",
        {
            "training": {
                "entrypoint": "t:main",
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {
                            "secretKeyRef": {"name": "s", "key": "k"},
                            "fieldRef": {"fieldPath": "metadata.name"},
                        },
                    }
                ],
            }
        },
        "spec.training.env",
        "ConflictingFields",
        "exactly one of secretKeyRef",
    ),
    (
        "training env name too long",
        {"training": {"entrypoint": "t:main", "env": [{"name": "A" * 257, "value": "1"}]}},
        "spec.training.env[0].name",
        "InvalidValue",
        "the most allowed is 256",
    ),
    (
        "training env without a name",
        {"training": {"entrypoint": "t:main", "env": [{"value": "1"}]}},
        "spec.training.env[0].name",
        "MissingField",
        "spec.training.env[0].name is required",
    ),
    (
        "training env from an unknown source",
        {
            "training": {
                "entrypoint": "t:main",
                "env": [{"name": "A", "valueFrom": {"vaultRef": {"path": "x"}}}],
            }
        },
        "spec.training.env[0].valueFrom.vaultRef",
        "UnknownField",
        "secretKeyRef",
    ),
    (
        "gate with min above max",
        {"training": {"entrypoint": "t:main", "gate": {"metric": "a", "min": 0.9, "max": 0.5}}},
        "spec.training.gate.max",
        "ConflictingFields",
        "spec.training.gate.min is above spec.training.gate.max",
    ),
    (
        "gate goal not an enum value",
        {"training": {"entrypoint": "t:main", "gate": {"metric": "a", "max": 1, "goal": "lower"}}},
        "spec.training.gate.goal",
        "UnsupportedValue",
        "Maximize",
    ),
    (
        "cron with four fields",
        {"training": {"entrypoint": "t:main", "schedule": "0 3 * *"}},
        "spec.training.schedule",
        "InvalidValue",
        "must look like five cron fields",
    ),
    (
        "cron minute 61",
        {"training": {"entrypoint": "t:main", "schedule": "61 * * * *"}},
        "spec.training.schedule",
        "InvalidValue",
        '"61 * * * *" is not a cron schedule',
    ),
    (
        "training too long",
        {"training": {"entrypoint": "t:main", "activeDeadline": "200h"}},
        "spec.training.activeDeadline",
        "OutOfRange",
        "between 1m and 168h",
    ),
    (
        "batch size 0",
        {"serving.batching.maxBatchSize": 0},
        "spec.serving.batching.maxBatchSize",
        "OutOfRange",
        "at least 1",
    ),
    (
        "unknown toleration operator",
        {"serving.tolerations": [{"key": "a", "operator": "Maybe"}]},
        "spec.serving.tolerations[0].operator",
        "UnsupportedValue",
        "use Exists, Equal",
    ),
    (
        "tolerations not a list",
        {"serving.tolerations": {"key": "a"}},
        "spec.serving.tolerations",
        "WrongType",
        "must be a list",
    ),
    (
        "node selector value not text",
        {"serving.nodeSelector": {"disk": 1}},
        "spec.serving.nodeSelector.disk",
        "WrongType",
        "must be a string",
    ),
    (
        "misspelt field",
        {"serving.replica": 3},
        "spec.serving.replica",
        "UnknownField",
        "did you mean spec.serving.replicas?",
    ),
    (
        "empty image",
        {"serving.image": ""},
        "spec.serving.image",
        "InvalidValue",
        "must not be empty",
    ),
    (
        "port out of range",
        {"serving.port": 70000},
        "spec.serving.port",
        "OutOfRange",
        "at most 65535",
    ),
]


@pytest.mark.parametrize(
    ("changes", "field", "reason", "words"),
    [case[1:] for case in BAD_SPECS],
    ids=[case[0] for case in BAD_SPECS],
)
def test_bad_specs_are_refused_naming_the_field(
    changes: dict[str, Any], field: str, reason: str, words: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(md_spec(changes), name="digits")
    error = caught.value
    assert (error.field, error.reason) == (field, reason), error.message
    assert words in error.message
    assert error.message.startswith(field.split("[")[0]) or field in error.message
    assert str(error) == error.message


def test_a_spec_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(["model"], name="digits")  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.reason) == ("spec", "WrongType")


def test_a_metadata_name_that_cannot_be_a_model_name_asks_for_spec_model_name() -> None:
    long_name = "a" * 64
    with pytest.raises(SpecError) as caught:
        parse_spec(md_spec(), name=long_name)
    assert caught.value.field == "spec.model.name"
    assert "set spec.model.name" in caught.value.message

    parsed = parse_spec(md_spec({"model.name": "digits"}), name=long_name)
    assert parsed.model.name == "digits"


def test_the_parsed_spec_is_immutable_and_owns_its_data() -> None:
    raw = full_spec()
    parsed = parse_spec(raw, name="digits")

    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.serving.replicas = 5  # type: ignore[misc]
    raw["serving"]["resources"]["requests"]["cpu"] = "64"
    raw["serving"]["tolerations"].append({"key": "later"})
    assert parsed.serving.resources == {"requests": {"cpu": "500m", "memory": "2Gi"}}
    assert parsed.serving.tolerations == [{"key": "dedicated", "operator": "Exists"}]
    assert parsed == parse_spec(full_spec(), name="digits")


# --- every declared constraint is enforced by parse_spec, not only by the API server -------


def _leaves(cls: type, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(dotted JSON path under spec, field declaration, type) for every scalar field."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        target = inner[0] if len(inner) == 1 else hint
        child = f"{path}.{json_name(field)}" if path else json_name(field)
        if dataclasses.is_dataclass(target):
            yield from _leaves(typing.cast(type, target), child)
        else:
            yield child, field_doc(field), target


def _violations() -> Iterator[Any]:
    for path, doc, hint in _leaves(ModelDeploymentSpec, ""):
        if doc.schema is not None:
            continue  # pass-through Kubernetes shapes: covered by the table above
        if doc.minimum is not None and hint in (int, float, int | str):
            yield pytest.param(path, doc.minimum - 1, id=f"{path}<min")
        if doc.maximum is not None:
            yield pytest.param(path, doc.maximum + 1, id=f"{path}>max")
        if doc.pattern is not None or doc.enum is not None:
            yield pytest.param(path, "not valid!", id=f"{path}~pattern")
        if doc.duration_bounds is not None:
            yield pytest.param(path, "1ms", id=f"{path}<shortest")
            longest = parse_duration(doc.duration_bounds[1]) / 3600
            yield pytest.param(path, f"{max(1000, int(longest) + 1)}h", id=f"{path}>longest")
        if doc.max_length is not None and doc.pattern is None:
            yield pytest.param(path, "x" * (doc.max_length + 1), id=f"{path}>maxLength")


@pytest.mark.parametrize(("path", "bad_value"), list(_violations()))
def test_every_declared_limit_is_enforced(path: str, bad_value: Any) -> None:
    spec = full_spec()  # every optional object present, so every field can be reached
    *parents, last = path.split(".")
    target = spec
    for key in parents:
        target = target[key]
        if isinstance(target, list):  # a list of objects (rollout.steps): its first item
            target = target[0]
    target[last] = bad_value
    named = "spec." + path.replace("steps.", "steps[0].").replace("metrics.", "metrics[0].")

    with pytest.raises(SpecError) as caught:
        parse_spec(spec, name="digits")
    assert caught.value.field == named
    assert named in caught.value.message


def test_drift_monitoring_is_read_with_its_defaults() -> None:
    parsed = parse_spec(md_spec({"monitoring": {"drift": {}}}), name="digits")
    assert parsed.monitoring is not None and parsed.monitoring.drift is not None
    drift = parsed.monitoring.drift
    assert (drift.method, drift.max, drift.window, drift.min_samples) == ("PSI", 0.2, 3600, 1000)
    assert (drift.action, drift.cooldown) == ("Alert", 86400)
    full = parse_spec(full_spec(), name="digits").monitoring
    assert full is not None and full.drift is not None
    assert (full.drift.action, full.drift.window, full.drift.min_samples) == ("Retrain", 1800, 500)


def test_drift_retraining_without_spec_training_is_refused() -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(md_spec({"monitoring": {"drift": {"action": "Retrain"}}}), name="digits")
    assert raised.value.reason == "MissingField"
    assert "spec.training" in str(raised.value)


def test_optimize_is_parsed_with_its_defaults() -> None:
    parsed = parse_spec(
        md_spec({"optimize": {"quantization": "Float16", "evaluationDataUri": "s3://data/e.npz"}}),
        name="digits",
    )
    assert parsed.optimize is not None
    assert parsed.optimize.quantization == "Float16"
    assert parsed.optimize.max_metric_drop == 0.01
    assert parsed.optimize.metric == "accuracy" and parsed.optimize.goal == "Maximize"
    assert parse_spec(md_spec(), name="digits").optimize is None


def test_optimize_needs_an_evaluation_data_object_not_a_bucket() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(
            md_spec({"optimize": {"quantization": "Int8", "evaluationDataUri": "s3://data"}}),
            name="digits",
        )
    assert caught.value.field == "spec.optimize.evaluationDataUri"
