"""The ModelDeployment spec as typed, immutable Python objects — and, through the field
declarations on them, the source of the CRD's spec schema.

Each field's description, JSON name, default and validation live right here on the
dataclass (see `modelship.api.fields`); `modelship.api.schema` turns them into the CRD's
OpenAPI schema and `modelship.api.parse.parse_spec` reads a resource's spec with them.
"""

# prop() and friends return dataclasses.field(...) (with a default or a default_factory),
# which ruff cannot see through.
# ruff: noqa: RUF009

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from cronsim import CronSim, CronSimError

from modelship.api.duration import DURATION_PATTERN, parse_duration
from modelship.api.fields import Rule, duration_prop, object_prop, prop
from modelship.api.quantity import parse_bytes
from modelship.api.reasons import (
    CONFLICTING_FIELDS,
    INVALID_VALUE,
    MISSING_FIELD,
    UNSUPPORTED_VALUE,
)
from modelship.api.trainer import RESERVED_ENV_NAMES, RESERVED_ENV_PREFIX

# A path segment is neither empty, "." nor "..", and holds no backslash: RE2 (the API
# server's regexp) has no lookahead, so "not . or .." is spelt out by its first characters.
_URI_SEGMENT = r"([^/\\.][^/\\]*|\.[^/\\.][^/\\]*|\.\.[^/\\]+)"
STORAGE_URI_PATTERN = (
    rf"^s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9](/({_URI_SEGMENT}(/{_URI_SEGMENT})*/?)?)?$"
)
# What a refused storage URI is told, by parse_spec and parse_storage_uri alike.
STORAGE_URI_HINT = (
    '"s3://bucket/path/to/model": a bucket, then path segments that are not empty, "." or '
    '".." and hold no backslash'
)
# A model name ends up in serving URLs and in the `modelship.io/model` label value.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
MODEL_NAME_MAX_LENGTH = 63
ENDPOINT_PATTERN = r"^https?://[^\s/?#]+(/\S*)?$"
REGION_PATTERN = r"^[A-Za-z0-9][-A-Za-z0-9_]*$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
IMAGE_PATTERN = r"^\S+$"
EXTENDED_RESOURCE_PATTERN = (
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
ENTRYPOINT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
CRON_PATTERN = r"^\S+( +\S+){4}$"
URI_PATTERN = r"^[a-z][a-z0-9+.-]*://\S+$"
METRIC_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_./-]*$"
PERCENT_PATTERN = r"^(100|[1-9]?[0-9])%$"
# A Kubernetes resource quantity ("500m", "2Gi", "1.5", "1e3"), never negative here.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$"

_QUANTITY_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
    "pattern": QUANTITY_PATTERN,
}

RESOURCES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "requests": {
            "type": "object",
            "description": (
                'The least each container is guaranteed, e.g. {cpu: "500m", memory: 2Gi}.'
            ),
            "additionalProperties": _QUANTITY_SCHEMA,
        },
        "limits": {
            "type": "object",
            "description": "The most each container may use, e.g. {memory: 4Gi}.",
            "additionalProperties": _QUANTITY_SCHEMA,
        },
    },
}

TOLERATIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "x-kubernetes-list-type": "atomic",
    "items": {
        "type": "object",
        "description": "A Kubernetes toleration, as in a pod's spec.tolerations.",
        "properties": {
            "key": {
                "type": "string",
                "description": "The taint key this toleration matches; empty matches all keys.",
            },
            "operator": {
                "type": "string",
                "enum": ["Exists", "Equal"],
                "description": "Exists (any value) or Equal (the value below); default Equal.",
            },
            "value": {
                "type": "string",
                "description": "The taint value to match when operator is Equal.",
            },
            "effect": {
                "type": "string",
                "enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"],
                "description": "The taint effect to match; empty matches all effects.",
            },
            "tolerationSeconds": {
                "type": "integer",
                "format": "int64",
                "description": "For NoExecute: how long the pod stays bound after the taint.",
            },
        },
    },
}


# The variables the operator itself sets in training containers (api/trainer.py):
# spec.training.env may not set them, so the operator's wiring (job identity, TF_CONFIG,
# storage endpoint and credentials) cannot be overridden by accident.
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"


def _key_ref(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["name", "key"],
        "properties": {
            "name": {"type": "string", "description": "The object's name."},
            "key": {"type": "string", "description": "The key."},
            "optional": {
                "type": "boolean",
                "description": "Start without the variable when the key is missing.",
            },
        },
    }


ENV_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 100,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
    "items": {
        "type": "object",
        "description": "An environment variable, as in a container's env.",
        "required": ["name"],
        "properties": {
            "name": {
                "type": "string",
                "description": "The variable's name.",
                "minLength": 1,
                "maxLength": 256,
                "pattern": ENV_NAME_PATTERN,
            },
            "value": {
                "type": "string",
                "description": "Its value; $(NAME) expands an earlier variable.",
            },
            "valueFrom": {
                "type": "object",
                "description": "Where its value comes from, as in a container's env[].valueFrom.",
                "properties": {
                    "secretKeyRef": _key_ref("A key of a Secret in the same namespace."),
                    "configMapKeyRef": _key_ref("A key of a ConfigMap in the same namespace."),
                    "fieldRef": {
                        "type": "object",
                        "description": "A field of the pod, e.g. metadata.name.",
                        "required": ["fieldPath"],
                        "properties": {
                            "fieldPath": {"type": "string", "description": "The field's path."},
                            "apiVersion": {
                                "type": "string",
                                "description": "The version fieldPath is written in (v1).",
                            },
                        },
                    },
                    "resourceFieldRef": {
                        "type": "object",
                        "description": "A resource limit or request of the container.",
                        "required": ["resource"],
                        "properties": {
                            "resource": {
                                "type": "string",
                                "description": "e.g. limits.memory or requests.cpu.",
                            },
                            "containerName": {
                                "type": "string",
                                "description": "The container; the trainer by default.",
                            },
                            "divisor": {**_QUANTITY_SCHEMA, "description": "Unit of the value."},
                        },
                    },
                },
            },
        },
    },
}


def _env_values_have_one_source() -> Rule:
    sources = ("secretKeyRef", "configMapKeyRef", "fieldRef", "resourceFieldRef")
    counted = " + ".join(f"(has(e.valueFrom.{name}) ? 1 : 0)" for name in sources)
    return Rule(
        cel=(
            "!has(self.env) || self.env.all(e, has(e.valueFrom) "
            f"? (!has(e.value) && {counted} == 1) : true)"
        ),
        holds=lambda training: all(
            "valueFrom" not in var
            or ("value" not in var and sum(1 for name in sources if name in var["valueFrom"]) == 1)
            for var in training.env
        ),
        field="env",
        reason=CONFLICTING_FIELDS,
        message=(
            "{path}.env has a variable with both value and valueFrom, or a valueFrom that "
            "names no source or several: give each variable a value, or a valueFrom with "
            "exactly one of " + ", ".join(sources)
        ),
    )


def _env_is_not_reserved() -> Rule:
    names = ", ".join(f"'{name}'" for name in RESERVED_ENV_NAMES)
    return Rule(
        cel=(
            f"!has(self.env) || self.env.all(e, !e.name.startsWith('{RESERVED_ENV_PREFIX}') "
            f"&& !(e.name in [{names}]))"
        ),
        holds=lambda training: all(
            not var["name"].startswith(RESERVED_ENV_PREFIX)
            and var["name"] not in RESERVED_ENV_NAMES
            for var in training.env
        ),
        field="env",
        reason=INVALID_VALUE,
        message=(
            "{path}.env sets a variable the operator sets itself ("
            + ", ".join(RESERVED_ENV_NAMES)
            + f" or a name starting with {RESERVED_ENV_PREFIX}): use another name; the "
            "storage settings come from spec.storage"
        ),
    )


def _cron_problem(schedule: str) -> str | None:
    try:
        CronSim(schedule, datetime.datetime(2000, 1, 1))
    except (CronSimError, ValueError) as error:
        return (
            f'"{schedule}" is not a cron schedule ({error}): use five fields '
            '"minute hour day-of-month month day-of-week", e.g. "0 3 * * *"'
        )
    return None


def _gpu_product_needs_gpus() -> Rule:
    return Rule(
        cel="!has(self.product) || (has(self.count) && self.count > 0)",
        holds=lambda gpu: gpu.product is None or gpu.count > 0,
        field="product",
        reason=CONFLICTING_FIELDS,
        message=(
            "{path}.product is set but {path}.count is 0: a GPU product only places GPU "
            "pods; set {path}.count to 1 or more, or remove {path}.product"
        ),
    )


def _gpus_only_through_gpu_field() -> Rule:
    # One place maps GPU settings to pod fields; a GPU in `resources` as well would give the
    # pod two different answers.
    def clear_of(kind: str) -> str:
        return f"(!has(self.resources.{kind}) || !(self.gpu.resourceName in self.resources.{kind}))"

    def holds(spec: ServingSpec | TrainingSpec) -> bool:
        return all(
            spec.gpu.resource_name not in (spec.resources.get(kind) or {})
            for kind in ("requests", "limits")
        )

    return Rule(
        cel=(
            "!has(self.resources) || !has(self.gpu) || !has(self.gpu.resourceName) || "
            f"({clear_of('requests')} && {clear_of('limits')})"
        ),
        holds=holds,
        field="resources",
        reason=CONFLICTING_FIELDS,
        message=(
            "{path}.resources names the GPU resource itself: set GPUs with "
            "{path}.gpu.count (and {path}.gpu.resourceName), not in {path}.resources"
        ),
    )


@dataclass(frozen=True)
class ModelSpec:
    """Which model to serve and where its versions are."""

    storage_uri: str = prop(
        "Where the model's versions live: s3://bucket/prefix, holding one integer folder per "
        "version (1/, 2/, ...), each a TensorFlow SavedModel with its modelship.json manifest.",
        pattern=STORAGE_URI_PATTERN,
        pattern_hint=STORAGE_URI_HINT,
        max_length=1024,
    )
    name: str | None = prop(
        "The model's name in serving URLs (/v1/models/<name>). Defaults to metadata.name.",
        default=None,
        pattern=MODEL_NAME_PATTERN,
        pattern_hint="letters, digits, '-', '_' and '.' (starting and ending alphanumeric)",
        max_length=MODEL_NAME_MAX_LENGTH,
    )
    version: int | None = prop(
        "Pin this version number (0 or more, as TF Serving's layout allows). When omitted, "
        "the newest complete, verified version is served, and new versions roll out as they "
        "appear.",
        default=None,
        minimum=0,
    )


@dataclass(frozen=True)
class SecretRef:
    """A Secret (in the ModelDeployment's namespace) holding S3 credentials."""

    name: str = prop(
        "The Secret's name.",
        pattern=DNS_SUBDOMAIN_PATTERN,
        pattern_hint="a Kubernetes object name (lowercase letters, digits, '-' and '.')",
        max_length=253,
    )
    access_key_id_key: str = prop(
        "The key in the Secret holding the access key id. Default AWS_ACCESS_KEY_ID.",
        default="AWS_ACCESS_KEY_ID",
        pattern=SECRET_KEY_PATTERN,
        pattern_hint="a Secret key (letters, digits, '-', '_' and '.')",
        max_length=253,
    )
    secret_access_key_key: str = prop(
        "The key in the Secret holding the secret access key. Default AWS_SECRET_ACCESS_KEY.",
        default="AWS_SECRET_ACCESS_KEY",
        pattern=SECRET_KEY_PATTERN,
        pattern_hint="a Secret key (letters, digits, '-', '_' and '.')",
        max_length=253,
    )


@dataclass(frozen=True)
class StorageSpec:
    """How to reach the S3-compatible store that holds the model."""

    endpoint: str | None = prop(
        "The S3 endpoint URL, e.g. http://minio.storage:9000. Omit for AWS S3.",
        default=None,
        pattern=ENDPOINT_PATTERN,
        pattern_hint='an http(s) URL such as "http://minio.storage:9000"',
        max_length=1024,
    )
    region: str | None = prop(
        "The S3 region, e.g. us-east-1. Omit to use the store's default.",
        default=None,
        pattern=REGION_PATTERN,
        pattern_hint='a region name such as "us-east-1"',
        max_length=64,
    )
    secret_ref: SecretRef | None = object_prop(
        "A Secret with the S3 credentials. Omit to use the operator's own credentials.",
        SecretRef,
        optional=True,
    )
    poll_interval: float = duration_prop(
        "How often the operator lists the store for new versions, e.g. 30s, 5m, 1h. "
        "Between 5s and 24h; default 30s.",
        default="30s",
        minimum="5s",
        maximum="24h",
    )


@dataclass(frozen=True)
class GpuSpec:
    """GPUs for each pod. One place (the pod builder) turns this into requests, limits,
    tolerations and node selection."""

    RULES: ClassVar[tuple[Rule, ...]] = (_gpu_product_needs_gpus(),)

    count: int = prop(
        "GPUs per pod; 0 runs on CPU only. Default 0.",
        default=0,
        minimum=0,
        maximum=16,
    )
    resource_name: str = prop(
        "The extended resource to request: nvidia.com/gpu (default), or a MIG profile such "
        "as nvidia.com/mig-1g.10gb.",
        default="nvidia.com/gpu",
        pattern=EXTENDED_RESOURCE_PATTERN,
        pattern_hint='a resource name such as "nvidia.com/gpu"',
        max_length=253,
    )
    product: str | None = prop(
        "Pin pods to nodes with this GPU model (the nvidia.com/gpu.product node label), "
        "e.g. NVIDIA-H100-80GB-HBM3. Needs count > 0.",
        default=None,
        pattern=LABEL_VALUE_PATTERN,
        pattern_hint="a label value (letters, digits, '-', '_' and '.')",
        max_length=63,
    )


@dataclass(frozen=True)
class BatchingSpec:
    """Server-side batching of prediction requests."""

    max_batch_size: int = prop(
        "The most requests the server merges into one batch. 1 turns batching off. Default 32.",
        default=32,
        minimum=1,
        maximum=4096,
    )
    batch_timeout_micros: int = prop(
        "How long (microseconds) the server waits to fill a batch. Default 2000.",
        default=2000,
        minimum=0,
        maximum=1_000_000,
    )


@dataclass(frozen=True)
class ServingSpec:
    """The pods that serve the model."""

    RULES: ClassVar[tuple[Rule, ...]] = (
        _gpus_only_through_gpu_field(),
        Rule(
            cel="!has(self.protocols) || size(self.protocols) > 0",
            holds=lambda serving: bool(serving.protocols),
            field="protocols",
            reason=INVALID_VALUE,
            message="{path}.protocols is empty: name rest, grpc or both (omit it for both)",
        ),
        Rule(
            cel="!has(self.port) || !has(self.grpcPort) || self.port != self.grpcPort",
            holds=lambda serving: serving.port != serving.grpc_port,
            field="grpcPort",
            reason=CONFLICTING_FIELDS,
            message="{path}.grpcPort and {path}.port are the same port; give gRPC its own",
        ),
    )

    replicas: int = prop(
        "How many serving pods to run. Default 1; 0 stops serving. Works with kubectl scale "
        "and a HorizontalPodAutoscaler (the scale subresource).",
        default=1,
        minimum=0,
    )
    image: str | None = prop(
        "The serving image. Defaults to the operator's configured server image.",
        default=None,
        pattern=IMAGE_PATTERN,
        pattern_hint="a container image reference",
        min_length=1,
        max_length=512,
    )
    resources: dict[str, Any] = prop(
        "CPU and memory for each serving container (requests and limits, as in a pod). "
        "Set GPUs with gpu, not here.",
        default_factory=dict,
        schema=RESOURCES_SCHEMA,
    )
    gpu: GpuSpec = object_prop("GPUs for each serving pod.", GpuSpec)
    node_selector: dict[str, str] = prop(
        "Labels a node must have to run serving pods (added to the GPU product label, if any).",
        default_factory=dict,
    )
    tolerations: list[dict[str, Any]] = prop(
        "Extra tolerations for serving pods (the nvidia.com/gpu taint is tolerated "
        "automatically when gpu.count > 0).",
        default_factory=list,
        schema=TOLERATIONS_SCHEMA,
    )
    batching: BatchingSpec = object_prop("Server-side request batching.", BatchingSpec)
    progress_deadline: float = duration_prop(
        "How long a rollout may go without progress before the ModelDeployment reports it "
        "Stalled, e.g. 10m. Between 30s and 24h; default 10m.",
        default="10m",
        minimum="30s",
        maximum="24h",
    )
    port: int = prop(
        "The HTTP port of the model server (REST API, health and metrics). Default 8501.",
        default=8501,
        minimum=1,
        maximum=65535,
    )
    grpc_port: int = prop(
        "The gRPC port of the model server (TF Serving's PredictionService, the Open "
        "Inference Protocol, grpc.health.v1 and reflection). Default 8500.",
        default=8500,
        minimum=1,
        maximum=65535,
    )
    protocols: list[Literal["rest", "grpc"]] = prop(
        "The APIs the server answers: rest (port), grpc (grpcPort). Omitted: both. Without "
        "rest, the HTTP port still answers health checks and metrics.",
        default_factory=lambda: ["rest", "grpc"],
        extensions={"x-kubernetes-list-type": "set", "minItems": 1},
    )


@dataclass(frozen=True)
class CanaryStep:
    """One step of a canary: the new version's share of traffic, and how long to hold it."""

    weight: int = prop(
        "The new version's share of traffic at this step, in percent (1 to 100). With traffic "
        "Replicas, the share is the canary's share of the replicas, rounded up to a whole pod; "
        "with traffic GatewayAPI, the HTTPRoute's weights are exactly weight and 100 - weight "
        "once the step's pods are Ready.",
        minimum=1,
        maximum=100,
    )
    pause: float | None = duration_prop(
        "How long to hold this step once the canary's pods are Ready, e.g. 2m, before the next "
        "step. Omitted: hold until promoted (the annotation modelship.io/promote set to a new "
        "value). Between 1s and 168h.",
        default=None,
        minimum="1s",
        maximum="168h",
    )


# The metrics the operator measures itself, on the serving pods' own /metrics.
BUILTIN_METRICS: Final = ("error-rate", "latency-p99", "queue-latency")
# Built-in metrics whose limit is a duration ("250ms"); the others' limits are plain numbers.
LATENCY_METRICS: Final = ("latency-p99", "queue-latency")
ANALYSIS_METRIC_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def metric_limit(value: float | str) -> float:
    """A metric's `max` as a number: a duration string in seconds, a number as it is."""
    if isinstance(value, str):
        return parse_duration(value)
    return float(value)


def _limit_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 'must be a number such as 0.01, or a duration such as "250ms"'
    try:
        limit = metric_limit(value)
    except ValueError as error:
        return str(error)
    return None if limit > 0 else "must be above 0: a limit of 0 fails every measurement"


# A number (0.01) or a duration ("250ms"): no OpenAPI type holds both in a structural schema,
# and CEL cannot read an untyped value, so the node is left untyped with the checks JSON Schema
# applies by the value's own type: a number must be above 0, a string must be a duration.
# parse_spec checks the rest (a zero duration, a latency given as a bare number).
LIMIT_SCHEMA: dict[str, Any] = {
    "x-kubernetes-preserve-unknown-fields": True,
    "minimum": 0,
    "exclusiveMinimum": True,
    "pattern": DURATION_PATTERN,
    "maxLength": 32,
}


@dataclass(frozen=True)
class PrometheusQuery:
    """A PromQL query the operator sends to a Prometheus at each measurement."""

    address: str = prop(
        "The Prometheus' base URL, e.g. http://prometheus.monitoring:9090.",
        pattern=ENDPOINT_PATTERN,
        pattern_hint="a URL such as http://prometheus.monitoring:9090",
        max_length=512,
    )
    query: str = prop(
        "An instant PromQL query whose first result is the metric's value, e.g. "
        "sum(rate(errors[1m])) / sum(rate(requests[1m])). It may mention the version being "
        "rolled out as {{canary}} and the stable one as {{stable}}.",
        min_length=1,
        max_length=4096,
    )


@dataclass(frozen=True)
class AnalysisMetric:
    """One measurement of the new version, judged against a limit."""

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel=f"has(self.prometheus) || self.name in {list(BUILTIN_METRICS)!r}",
            holds=lambda metric: metric.prometheus is not None or metric.name in BUILTIN_METRICS,
            field="name",
            reason=UNSUPPORTED_VALUE,
            message=(
                "{path}.name is not a built-in metric (error-rate, latency-p99, queue-latency): "
                "use one of them, or give {path}.prometheus with a query"
            ),
        ),
        Rule(
            cel="",  # CEL cannot read the untyped max (see LIMIT_SCHEMA)
            holds=lambda metric: (
                metric.prometheus is not None
                or metric.name not in LATENCY_METRICS
                or isinstance(metric.max, str)
            ),
            field="max",
            reason=INVALID_VALUE,
            message=(
                '{path}.max of a latency must be a duration such as "250ms", so its unit is '
                "never guessed"
            ),
        ),
        Rule(
            cel="",  # CEL cannot read the untyped max (see LIMIT_SCHEMA)
            holds=lambda metric: (
                metric.name != "error-rate"
                or metric.prometheus is not None
                or not isinstance(metric.max, str)
            ),
            field="max",
            reason=INVALID_VALUE,
            message="{path}.max of error-rate is a share of requests, e.g. 0.01 for 1%",
        ),
    )

    name: str = prop(
        "error-rate (the share of requests answered with a server error), latency-p99 (the "
        "99th percentile of request time), queue-latency (the 99th percentile of the time a "
        "request waits in the batching queue) — read from the serving pods' own /metrics — "
        "or any name with prometheus set.",
        pattern=ANALYSIS_METRIC_NAME_PATTERN,
        pattern_hint='a lowercase name such as "error-rate"',
        max_length=63,
    )
    max: float | str = prop(
        "The most the new version may measure: a share for error-rate (0.01), a duration for "
        'latencies ("250ms"), a number for a PromQL query. A measurement above it fails.',
        schema=LIMIT_SCHEMA,
        check=_limit_problem,
    )
    prometheus: PrometheusQuery | None = object_prop(
        "Measure this metric with a PromQL query instead of the serving pods' /metrics.",
        PrometheusQuery,
        optional=True,
    )

    @property
    def limit(self) -> float:
        """`max` as a number (seconds for a duration)."""
        return metric_limit(self.max)


@dataclass(frozen=True)
class AnalysisSpec:
    """Automated analysis of a canary: measured at every interval while it serves traffic."""

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="self.metrics.all(m, self.metrics.exists_one(o, o.name == m.name))",
            holds=lambda analysis: len({m.name for m in analysis.metrics}) == len(analysis.metrics),
            field="metrics",
            reason=CONFLICTING_FIELDS,
            message="{path}.metrics names a metric twice: give each metric one entry",
        ),
    )

    metrics: list[AnalysisMetric] = prop(
        "What to measure on the new version at each interval, each with its limit, e.g. "
        '[{name: error-rate, max: 0.01}, {name: latency-p99, max: "250ms"}]. The stable '
        "version's values are measured beside it and shown in status.rollout.analysis.",
        extensions={"minItems": 1, "maxItems": 10, "x-kubernetes-list-type": "atomic"},
    )
    interval: float = duration_prop(
        "How often to measure, e.g. 30s: each measurement covers the requests answered since "
        "the previous one. Between 5s and 1h; default 30s.",
        default="30s",
        minimum="5s",
        maximum="1h",
    )
    failure_limit: int = prop(
        "Failed measurements that roll the canary back: at this many the new version is "
        "rejected and every replica returns to the stable version. Default 2.",
        default=2,
        minimum=1,
        maximum=100,
    )


@dataclass(frozen=True)
class HTTPRouteRef:
    """A Gateway API HTTPRoute in the ModelDeployment's namespace, owned by the user."""

    name: str = prop(
        "The HTTPRoute's name. One of its rules must have backendRefs to both Services "
        "<name>-stable and <name>-canary (the operator makes them); the operator writes only "
        "those two backendRefs' weights.",
        pattern=DNS_SUBDOMAIN_PATTERN,
        pattern_hint="a Kubernetes object name (lowercase letters, digits, '-' and '.')",
        max_length=253,
    )


@dataclass(frozen=True)
class RolloutSpec:
    """How a new version replaces the serving one."""

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel=(
                "!has(self.maxSurge) || !has(self.maxUnavailable) || "
                "!(string(self.maxSurge) in ['0', '0%'] && "
                "string(self.maxUnavailable) in ['0', '0%'])"
            ),
            holds=lambda rollout: (
                not (
                    str(rollout.max_surge) in ("0", "0%")
                    and str(rollout.max_unavailable) in ("0", "0%")
                )
            ),
            field="maxSurge",
            reason=CONFLICTING_FIELDS,
            message=(
                "{path}.maxSurge and {path}.maxUnavailable are both 0, so no pod could ever "
                "be replaced: raise one of them"
            ),
        ),
        Rule(
            cel=(
                "!has(self.strategy) || self.strategy != 'Canary' || "
                "(has(self.steps) && size(self.steps) > 0)"
            ),
            holds=lambda rollout: rollout.strategy != "Canary" or bool(rollout.steps),
            field="steps",
            reason=MISSING_FIELD,
            message=(
                "{path}.strategy is Canary but {path}.steps is empty: give at least one step, "
                "e.g. steps: [{weight: 10, pause: 2m}, {weight: 50}]"
            ),
        ),
        Rule(
            cel=(
                "(has(self.strategy) && self.strategy == 'Canary') || !has(self.steps) || "
                "size(self.steps) == 0"
            ),
            holds=lambda rollout: rollout.strategy == "Canary" or not rollout.steps,
            field="steps",
            reason=CONFLICTING_FIELDS,
            message=(
                "{path}.steps is set but {path}.strategy is not Canary, so the steps would be "
                "ignored: set {path}.strategy: Canary, or remove {path}.steps"
            ),
        ),
        Rule(
            cel=(
                "!has(self.analysis) || "
                "(has(self.strategy) && self.strategy in ['Canary', 'BlueGreen'])"
            ),
            holds=lambda rollout: (
                rollout.analysis is None or rollout.strategy in ("Canary", "BlueGreen")
            ),
            field="analysis",
            reason=CONFLICTING_FIELDS,
            message=(
                "{path}.analysis is set but {path}.strategy is neither Canary nor BlueGreen, so "
                "nothing would be measured: set {path}.strategy, or remove {path}.analysis"
            ),
        ),
        Rule(
            cel=(
                "!has(self.traffic) || self.traffic != 'GatewayAPI' || "
                "(has(self.strategy) && self.strategy == 'Canary')"
            ),
            holds=lambda rollout: rollout.traffic != "GatewayAPI" or rollout.strategy == "Canary",
            field="traffic",
            reason=CONFLICTING_FIELDS,
            message=(
                "{path}.traffic is GatewayAPI but {path}.strategy is not Canary: HTTPRoute "
                "weights are written only for canary steps; set {path}.strategy: Canary, or "
                "remove {path}.traffic"
            ),
        ),
        Rule(
            cel=("!has(self.traffic) || self.traffic != 'GatewayAPI' || has(self.httpRoute)"),
            holds=lambda rollout: rollout.traffic != "GatewayAPI" or rollout.http_route is not None,
            field="httpRoute",
            reason=MISSING_FIELD,
            message=(
                "{path}.traffic is GatewayAPI but {path}.httpRoute is not set: name the "
                "HTTPRoute whose weights the operator writes, e.g. httpRoute: {name: digits}"
            ),
        ),
        Rule(
            cel="!has(self.httpRoute) || (has(self.traffic) && self.traffic == 'GatewayAPI')",
            holds=lambda rollout: rollout.http_route is None or rollout.traffic == "GatewayAPI",
            field="httpRoute",
            reason=CONFLICTING_FIELDS,
            message=(
                "{path}.httpRoute is set but {path}.traffic is not GatewayAPI, so the route "
                "would be ignored: set {path}.traffic: GatewayAPI, or remove {path}.httpRoute"
            ),
        ),
        Rule(
            cel=(
                "!has(self.scaleDownDelay) || (has(self.strategy) && self.strategy == 'BlueGreen')"
            ),
            holds=lambda rollout: (
                rollout.scale_down_delay is None or rollout.strategy == "BlueGreen"
            ),
            field="scaleDownDelay",
            reason=CONFLICTING_FIELDS,
            message=(
                "{path}.scaleDownDelay is set but {path}.strategy is not BlueGreen, so it would "
                "be ignored: set {path}.strategy: BlueGreen, or remove {path}.scaleDownDelay"
            ),
        ),
    )

    strategy: Literal["RollingUpdate", "Canary", "BlueGreen"] = prop(
        "How a new version replaces the serving one: RollingUpdate (Kubernetes' own, one "
        "Deployment); Canary (the new version runs as its own Deployment <name>-canary beside "
        "the stable one, behind the same Service, and takes a growing share of the replicas "
        "step by step; a crash-looping, never-Ready, aborted or failing canary is rolled "
        "back); or BlueGreen (the new version runs at full size in <name>-canary behind the "
        "preview Service <name>-preview, with no traffic from <name>, until it is promoted: "
        "then the Service <name> switches to it in one write, and the old version goes after "
        "scaleDownDelay; it needs room for both). Default RollingUpdate.",
        default="RollingUpdate",
        enum=("RollingUpdate", "Canary", "BlueGreen"),
    )
    max_surge: int | str = prop(
        'Pods above replicas allowed during a rollout: a number or a percentage ("25%"). '
        "Default 1.",
        default=1,
        minimum=0,
        pattern=PERCENT_PATTERN,
        pattern_hint='a number, or a percentage such as "25%"',
    )
    max_unavailable: int | str = prop(
        'Pods below replicas allowed during a rollout: a number or a percentage ("25%"). '
        "Default 0, so serving capacity never drops.",
        default=0,
        minimum=0,
        pattern=PERCENT_PATTERN,
        pattern_hint='a number, or a percentage such as "25%"',
    )
    steps: list[CanaryStep] = prop(
        "Canary only: the new version's share of traffic, step by step, e.g. "
        "[{weight: 10, pause: 2m}, {weight: 50}]. A step without pause waits for promotion. "
        "After the last step the new version is promoted to all replicas.",
        default_factory=list,
        extensions={"maxItems": 20, "x-kubernetes-list-type": "atomic"},
    )
    gpu_budget: Literal["Fixed", "Surge"] = prop(
        "Canary only: Fixed never runs more serving pods (so GPUs) than replicas during a "
        "rollout: the stable version scales down as the canary scales up, each pod started "
        "only once the one it replaces is gone. Surge keeps every stable replica and runs the "
        "canary's pods on top. Default Fixed.",
        default="Fixed",
        # Applied by parse_spec only: the stored objects of the other strategies stay as
        # they were.
        server_default=False,
        enum=("Fixed", "Surge"),
    )
    traffic: Literal["Replicas", "GatewayAPI"] = prop(
        "Canary only: how the new version gets its share of traffic. Replicas: the Service "
        "<name> selects both versions' pods, so the share is the canary's share of the ready "
        "pods (no dependency). GatewayAPI: the step's weight exactly, written on the "
        "backendRefs of the HTTPRoute named by httpRoute (to the Services <name>-stable and "
        "<name>-canary, which the operator keeps); any Gateway API implementation applies it. "
        "Default Replicas.",
        default="Replicas",
        # Applied by parse_spec only, like gpuBudget: stored objects stay as they were.
        server_default=False,
        enum=("Replicas", "GatewayAPI"),
    )
    http_route: HTTPRouteRef | None = object_prop(
        "With traffic GatewayAPI (and only then): the HTTPRoute, in this namespace, whose "
        "weights the operator owns. You own the route (parentRefs, hostnames, matches); a "
        "rollout does not start while it is missing.",
        HTTPRouteRef,
        optional=True,
    )
    progress_deadline: float | None = duration_prop(
        "Canary only: how long the canary may take to become Ready at a step before it is "
        "rolled back, e.g. 10m. Between 30s and 24h; spec.serving.progressDeadline when omitted.",
        default=None,
        minimum="30s",
        maximum="24h",
    )
    scale_down_delay: float | None = duration_prop(
        "BlueGreen only: how long the old version keeps running after the Service switched "
        "to the new one (a quick way back while clients move), e.g. 30s. Between 0s and 24h; "
        "default 30s.",
        default=None,
        minimum="0s",
        maximum="24h",
    )
    analysis: AnalysisSpec | None = object_prop(
        "Canary and BlueGreen: measure the new version at every interval while it serves (error "
        "rate, latency, queue latency from the serving pods' own /metrics, or PromQL), with "
        "the stable version beside it. At failureLimit failed measurements the canary is "
        "rolled back by itself; a canary step with a pause moves on, and a blue-green preview "
        "is promoted, only after a measurement taken since its pods were Ready passed.",
        AnalysisSpec,
        optional=True,
    )


@dataclass(frozen=True)
class GateSpec:
    """The check a newly trained version must pass before it is rolled out."""

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="has(self.min) || has(self.max) || (has(self.mustImprove) && self.mustImprove)",
            holds=lambda gate: gate.min is not None or gate.max is not None or gate.must_improve,
            field="",
            reason=MISSING_FIELD,
            message=(
                "{path} checks nothing: set {path}.min, {path}.max or {path}.mustImprove: true"
            ),
        ),
        Rule(
            cel="!has(self.min) || !has(self.max) || self.min <= self.max",
            holds=lambda gate: gate.min is None or gate.max is None or gate.min <= gate.max,
            field="max",
            reason=CONFLICTING_FIELDS,
            message="{path}.min is above {path}.max, so no version could pass: swap them",
        ),
    )

    metric: str = prop(
        "The metric to judge, by its name in the version's manifest (e.g. accuracy).",
        pattern=METRIC_NAME_PATTERN,
        pattern_hint='a metric name such as "accuracy"',
        max_length=128,
    )
    min: float | None = prop(
        "The lowest value of the metric a version may have to be rolled out.",
        default=None,
    )
    max: float | None = prop(
        "The highest value of the metric a version may have to be rolled out (for metrics "
        "where lower is better, such as loss).",
        default=None,
    )
    goal: Literal["Maximize", "Minimize"] = prop(
        "Which way the metric gets better, for mustImprove: Maximize (accuracy, AUC) or "
        "Minimize (loss, error rate). Default Maximize.",
        default="Maximize",
        enum=("Maximize", "Minimize"),
    )
    must_improve: bool = prop(
        "Roll a version out only if its metric beats the serving version's (in the "
        "direction of goal). Default false.",
        default=False,
    )


@dataclass(frozen=True)
class TrainingSpec:
    """Training Jobs that produce new versions of the model."""

    RULES: ClassVar[tuple[Rule, ...]] = (
        _gpus_only_through_gpu_field(),
        _env_is_not_reserved(),
        _env_values_have_one_source(),
    )

    entrypoint: str = prop(
        "The training function the trainer calls, as package.module:function.",
        pattern=ENTRYPOINT_PATTERN,
        pattern_hint='"package.module:function"',
        max_length=256,
    )
    image: str | None = prop(
        "The training image. Defaults to the operator's configured trainer image.",
        default=None,
        pattern=IMAGE_PATTERN,
        pattern_hint="a container image reference",
        min_length=1,
        max_length=512,
    )
    workers: int = prop(
        "Training workers; more than 1 runs a multi-worker job (each gets TF_CONFIG). Default 1.",
        default=1,
        minimum=1,
        maximum=64,
    )
    gpu: GpuSpec = object_prop("GPUs for each training worker.", GpuSpec)
    resources: dict[str, Any] = prop(
        "CPU and memory for each training container (requests and limits). Set GPUs with "
        "gpu, not here.",
        default_factory=dict,
        schema=RESOURCES_SCHEMA,
    )
    node_selector: dict[str, str] = prop(
        "Labels a node must have to run training pods (added to the GPU product label, if any).",
        default_factory=dict,
    )
    tolerations: list[dict[str, Any]] = prop(
        "Extra tolerations for training pods (the nvidia.com/gpu taint is tolerated "
        "automatically when gpu.count > 0).",
        default_factory=list,
        schema=TOLERATIONS_SCHEMA,
    )
    schedule: str | None = prop(
        'Retrain on this cron schedule (five fields, e.g. "0 3 * * *"). Omit to train only '
        "when no version exists.",
        default=None,
        pattern=CRON_PATTERN,
        pattern_hint='five cron fields such as "0 3 * * *"',
        max_length=128,
        check=_cron_problem,
    )
    data_uri: str | None = prop(
        "The training data, passed to the entrypoint (e.g. s3://bucket/datasets/digits).",
        default=None,
        pattern=URI_PATTERN,
        pattern_hint='a URI such as "s3://bucket/data"',
        max_length=2048,
    )
    args: list[str] = prop(
        "Extra arguments passed to the entrypoint.",
        default_factory=list,
    )
    env: list[dict[str, Any]] = prop(
        "Extra environment variables for each training container (value, or valueFrom a "
        "Secret or ConfigMap key), e.g. a dataset token or WANDB_PROJECT.",
        default_factory=list,
        schema=ENV_SCHEMA,
    )
    gate: GateSpec | None = object_prop(
        "The check a new version must pass to be rolled out. Omit to roll out every version "
        "that trains successfully.",
        GateSpec,
        optional=True,
    )
    backoff_limit: int = prop(
        "Retries of a failed training run before it counts as failed. Default 1.",
        default=1,
        minimum=0,
        maximum=20,
    )
    active_deadline: float | None = duration_prop(
        "The longest a training run may take, e.g. 6h. Between 1m and 168h; no limit when omitted.",
        default=None,
        minimum="1m",
        maximum="168h",
    )


# -- spec.monitoring.capture ----------------------------------------------------------------


@dataclass(frozen=True)
class KeySecretRef:
    """One key of a Secret in the ModelDeployment's namespace."""

    name: str = prop(
        "The Secret's name.",
        pattern=DNS_SUBDOMAIN_PATTERN,
        pattern_hint="a Kubernetes object name (lowercase letters, digits, '-' and '.')",
        max_length=253,
    )
    key: str = prop(
        "The key in the Secret.",
        pattern=SECRET_KEY_PATTERN,
        pattern_hint="a Secret key (letters, digits, '-', '_' and '.')",
        max_length=253,
    )


@dataclass(frozen=True)
class CaptureMaskSpec:
    """Inputs (or outputs) written as a keyed hash instead of their value."""

    key_secret_ref: KeySecretRef = prop(
        "The Secret key holding the HMAC key (a long random string). The pods read it by "
        "reference; it is never copied into the resource, its status or the captures."
    )
    inputs: list[str] = prop(
        "Names of the inputs (or outputs) to mask: each row is written as "
        "hmac-sha256:<hex> of its value, so equal values still match.",
        default_factory=list,
    )


@dataclass(frozen=True)
class CaptureSseSpec:
    """Server-side encryption S3 applies to each batch it stores."""

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="!has(self.kmsKeyId) || self.type == 'aws:kms'",
            holds=lambda sse: sse.kms_key_id is None or sse.type == "aws:kms",
            field="kmsKeyId",
            reason=CONFLICTING_FIELDS,
            message="{path}.kmsKeyId is only used with {path}.type aws:kms: set that, or "
            "remove kmsKeyId",
        ),
    )

    type: Literal["AES256", "aws:kms"] = prop(
        "AES256 (S3-managed keys) or aws:kms (a KMS key).", enum=("AES256", "aws:kms")
    )
    kms_key_id: str | None = prop(
        "The KMS key id or ARN for aws:kms; omit for the bucket's default key.",
        default=None,
        min_length=1,
        max_length=2048,
    )


@dataclass(frozen=True)
class CaptureSpec:
    """Request capture: the serving pods write a sample of requests and their predictions
    to S3 as gzip JSON-lines batches, for the next training run (docs/capture.md)."""

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="self.sampleRate > 0.0",
            holds=lambda capture: capture.sample_rate > 0,
            field="sampleRate",
            reason=INVALID_VALUE,
            message="{path}.sampleRate must be above 0 and at most 1 (0.01 keeps one "
            "request in a hundred); remove {path} to capture nothing",
        ),
    )

    storage_uri: str = prop(
        "Where batches go: s3://bucket/prefix; each lands under "
        "<prefix>/<model>/<version>/<date>/.",
        pattern=STORAGE_URI_PATTERN,
        pattern_hint=STORAGE_URI_HINT,
        max_length=1024,
    )
    sample_rate: float = prop(
        "Share of answered requests captured, above 0 and at most 1. Default 0.01.",
        default=0.01,
        minimum=0,
        maximum=1,
    )
    max_bytes_per_hour: int | str | None = prop(
        "Most bytes of records each pod captures per hour (before compression), e.g. 100Mi; "
        "past it records are dropped and counted. No limit when omitted.",
        default=None,
        schema=_QUANTITY_SCHEMA,
        check=lambda value: _size_problem(value),
    )
    exclude: list[str] = prop(
        "Names of inputs (or outputs) never written.",
        default_factory=list,
    )
    mask: CaptureMaskSpec | None = object_prop(
        "Inputs (or outputs) written as a keyed hash.", CaptureMaskSpec, optional=True
    )
    sse: CaptureSseSpec | None = object_prop(
        "Server-side encryption of the batches. Omit for the bucket's default.",
        CaptureSseSpec,
        optional=True,
    )
    retention: float | None = duration_prop(
        "Delete batches older than this, e.g. 720h. Between 1h and 87600h; kept when omitted.",
        default=None,
        minimum="1h",
        maximum="87600h",
    )
    secret_ref: SecretRef | None = object_prop(
        "A Secret with S3 credentials for the captures. Default: spec.storage.secretRef.",
        SecretRef,
        optional=True,
    )


def _size_problem(value: Any) -> str | None:
    try:
        parse_bytes(value)
    except ValueError as err:
        return str(err)
    return None


def capture_bytes_per_hour(capture: CaptureSpec) -> int | None:
    """spec.monitoring.capture.maxBytesPerHour in bytes (None: no limit)."""
    value = capture.max_bytes_per_hour
    return None if value is None else parse_bytes(value)


# --- spec.monitoring: drift monitoring (docs/monitoring.md) ---------------------------------


@dataclass(frozen=True)
class DriftSpec:
    """Compare live traffic with the version's baseline (the training inputs' distribution,
    recorded in its manifest) and act when they part."""

    method: Literal["PSI"] = prop(
        "How a feature's live distribution is compared with its baseline: PSI (the "
        "population stability index over the baseline's quantile bins). Default PSI.",
        default="PSI",
        enum=("PSI",),
    )
    max: float = prop(
        "The highest score (of the worst feature) that is not drift. PSI reads: below 0.1 "
        "stable, 0.1 to 0.25 a shift worth a look, above 0.25 a major shift. Default 0.2.",
        default=0.2,
        minimum=0,
        maximum=10,
    )
    window: float = duration_prop(
        "How much recent traffic is compared, e.g. 1h. Between 5m and 24h; default 1h.",
        default="1h",
        minimum="5m",
        maximum="24h",
    )
    min_samples: int = prop(
        "The fewest predictions in the window for a verdict; fewer gives "
        "InsufficientSamples. Default 1000.",
        default=1000,
        minimum=1,
        maximum=1_000_000_000,
    )
    action: Literal["Alert", "Retrain"] = prop(
        "What drift does: Alert (the DataDrift condition and a Warning Event) or Retrain "
        "(that, and a training run as the modelship.io/retrain annotation starts one; needs "
        "spec.training). Default Alert.",
        default="Alert",
        enum=("Alert", "Retrain"),
    )
    cooldown: float = duration_prop(
        "The least time between two training runs started by drift, e.g. 24h. Between 1m "
        "and 720h; default 24h.",
        default="24h",
        minimum="1m",
        maximum="720h",
    )


@dataclass(frozen=True)
class MonitoringSpec:
    """What the operator watches in the served model's traffic, and what it keeps of it."""

    drift: DriftSpec | None = object_prop(
        "Data and prediction drift against the version's baseline. Omit to not score drift.",
        DriftSpec,
        optional=True,
    )
    capture: CaptureSpec | None = object_prop(
        "Capture a sample of requests to S3 for the next training run. Omit to capture none.",
        CaptureSpec,
        optional=True,
    )


def _retrain_needs_training() -> Rule:
    return Rule(
        cel=(
            "!has(self.monitoring) || !has(self.monitoring.drift) || "
            "!has(self.monitoring.drift.action) || "
            "self.monitoring.drift.action != 'Retrain' || has(self.training)"
        ),
        holds=lambda spec: (
            spec.monitoring is None
            or spec.monitoring.drift is None
            or spec.monitoring.drift.action != "Retrain"
            or spec.training is not None
        ),
        field="monitoring",
        reason=MISSING_FIELD,
        message=(
            "{path}.monitoring.drift.action Retrain needs {path}.training to train with: "
            "add spec.training or use action Alert"
        ),
    )


# --- end of spec.monitoring -------------------------------------------------------------------
# -- spec.optimize: post-training quantization as a lifecycle step (docs/optimize.md) --------

EVALUATION_DATA_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$"


@dataclass(frozen=True)
class OptimizeSpec:
    """Quantize each new version to TensorFlow Lite and serve the result only if its metric
    stays within maxMetricDrop of its source's."""

    quantization: Literal["Float16", "DynamicRange", "Int8"] = prop(
        "How to quantize: Float16 (weights in float16), DynamicRange (weights in int8) or "
        "Int8 (weights and activations in int8, calibrated on the evaluation data).",
        enum=("Float16", "DynamicRange", "Int8"),
    )
    evaluation_data_uri: str = prop(
        "A NumPy .npz file in the model's store (s3://bucket/key): one array per model input, "
        "by name, and 'labels'. The source and the optimized version are both evaluated on "
        "it; Int8 calibrates on its first rows.",
        pattern=EVALUATION_DATA_PATTERN,
        pattern_hint='an object URI such as "s3://bucket/eval/digits.npz"',
        max_length=2048,
    )
    max_metric_drop: float = prop(
        "How much worse than its source the optimized version's metric may be (absolute, "
        "in the direction of goal) and still be served, e.g. 0.01. Default 0.01.",
        default=0.01,
        minimum=0,
        maximum=1000000,
    )
    metric: str = prop(
        "The metric to compare, as the optimization measures it: accuracy (integer labels) "
        "or mse (float labels). Default accuracy.",
        default="accuracy",
        pattern=METRIC_NAME_PATTERN,
        pattern_hint='a metric name such as "accuracy"',
        max_length=128,
    )
    goal: Literal["Maximize", "Minimize"] = prop(
        "Which way the metric gets better: Maximize (accuracy) or Minimize (mse). "
        "Default Maximize.",
        default="Maximize",
        enum=("Maximize", "Minimize"),
    )
    image: str | None = prop(
        "The image the optimization Job runs (it needs TensorFlow). Defaults to the "
        "operator's configured trainer image.",
        default=None,
        pattern=IMAGE_PATTERN,
        pattern_hint="a container image reference",
        min_length=1,
        max_length=512,
    )
    resources: dict[str, Any] = prop(
        "CPU and memory for the optimization container (requests and limits).",
        default_factory=dict,
        schema=RESOURCES_SCHEMA,
    )
    active_deadline: float | None = duration_prop(
        "The longest an optimization run may take, e.g. 30m. Between 1m and 24h; no limit "
        "when omitted.",
        default=None,
        minimum="1m",
        maximum="24h",
    )


@dataclass(frozen=True)
class ModelDeploymentSpec:
    """What the user asks for: one model, served (and optionally trained) on Kubernetes."""

    RULES: ClassVar[tuple[Rule, ...]] = (_retrain_needs_training(),)

    model: ModelSpec = prop("Which model to serve and where its versions are.")
    storage: StorageSpec = object_prop(
        "How to reach the S3-compatible store holding the model.", StorageSpec
    )
    serving: ServingSpec = object_prop("The pods that serve the model.", ServingSpec)
    rollout: RolloutSpec = object_prop("How a new version replaces the serving one.", RolloutSpec)
    training: TrainingSpec | None = object_prop(
        "Training Jobs that produce new versions. Omit to only serve versions made elsewhere.",
        TrainingSpec,
        optional=True,
    )
    monitoring: MonitoringSpec | None = object_prop(
        "Watch the served model's traffic for drift, and capture a sample of it "
        "(docs/monitoring.md, docs/capture.md).",
        MonitoringSpec,
        optional=True,
    )
    optimize: OptimizeSpec | None = object_prop(
        "Post-training quantization: each new version is converted to TensorFlow Lite and "
        "published as the next version, served only if its metric stays within "
        "maxMetricDrop of its source's. Omit to serve versions as they are published.",
        OptimizeSpec,
        optional=True,
    )
