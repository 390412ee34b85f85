"""The CRD agrees with the Python types it is generated from, is a valid structural schema,
and the committed file is up to date."""

from __future__ import annotations

import copy
import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.api import (
    CRD_NAME,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    VERSION,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    parse_spec,
)
from modelship.api.crd import crd_yaml, custom_resource_definition, main
from modelship.api.fields import NO_DEFAULT, field_doc, json_name

CRD_FILE = Path(__file__).resolve().parents[3] / "crds" / "modeldeployments.modelship.io.yaml"


def schema() -> dict[str, Any]:
    version = custom_resource_definition()["spec"]["versions"][0]
    return typing.cast(dict[str, Any], version["schema"]["openAPIV3Schema"])


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its JSON path."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}[*]")
    if "items" in node:
        yield from nodes(node["items"], f"{path}[*]")
    for alternative in node.get("anyOf", []):
        yield path + "|anyOf", alternative


def apply_schema_defaults(value: Any, node: dict[str, Any]) -> Any:
    """Fill in defaults the way the API server does when it stores an object: a missing
    property with a default gets it, then defaulting goes on inside it."""
    value = copy.deepcopy(value)
    if isinstance(value, dict) and "properties" in node:
        for name, child in node["properties"].items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = apply_schema_defaults(value[name], child)
    elif isinstance(value, list) and "items" in node:
        value = [apply_schema_defaults(item, node["items"]) for item in value]
    return value


# --- the committed file and the generator entry point ------------------------------------


def test_the_committed_crd_is_the_generated_one() -> None:
    assert CRD_FILE.read_text(encoding="utf-8") == crd_yaml(), (
        "crds/modeldeployments.modelship.io.yaml is stale: run `make crds`"
    )


def test_check_passes_on_a_fresh_file_and_fails_with_a_diff_on_a_stale_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text(crd_yaml(), encoding="utf-8")
    assert main(["--check", str(fresh)]) == 0

    stale = tmp_path / "stale.yaml"
    stale.write_text(crd_yaml().replace("maximum: 16", "maximum: 8"), encoding="utf-8")
    capsys.readouterr()
    assert main(["--check", str(stale)]) == 1
    out, err = capsys.readouterr()
    assert "-                        maximum: 8" in out
    assert "+                        maximum: 16" in out
    assert "out of date" in err

    assert main(["--check", str(tmp_path / "missing.yaml")]) == 1


def test_without_arguments_the_generator_prints_the_crd(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert yaml.safe_load(printed) == custom_resource_definition()
    assert "&id" not in printed  # no YAML anchors: every field spelled out


def test_unknown_arguments_print_usage() -> None:
    assert main(["--frobnicate"]) == 2


# --- names, subresources, printer columns -------------------------------------------------


def test_names_and_subresources() -> None:
    crd = custom_resource_definition()
    assert crd["metadata"]["name"] == CRD_NAME == "modeldeployments.modelship.io"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == (GROUP, "Namespaced")
    assert spec["names"]["kind"] == KIND
    assert spec["names"]["plural"] == PLURAL
    assert spec["names"]["shortNames"] == list(SHORT_NAMES) == ["md", "mdep"]
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.serving.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }


def _schema_at(json_path: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema()
    for part in json_path.strip(".").split("."):
        node = (node or {}).get("properties", {}).get(part)
    return node


def test_scale_paths_point_at_fields_of_the_right_type() -> None:
    assert (_schema_at(".spec.serving.replicas") or {}).get("type") == "integer"
    assert (_schema_at(".status.replicas") or {}).get("type") == "integer"
    assert (_schema_at(".status.selector") or {}).get("type") == "string"


def test_printer_columns_show_model_version_ready_phase_replicas_age() -> None:
    columns = custom_resource_definition()["spec"]["versions"][0]["additionalPrinterColumns"]
    default_columns = [column["name"] for column in columns if not column.get("priority")]
    assert default_columns == ["Model", "Version", "Ready", "Phase", "Replicas", "Age"]
    by_name = {column["name"]: column for column in columns}
    assert by_name["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    for column in columns:
        path = column["jsonPath"]
        if path.startswith(".metadata") or "[" in path:
            continue
        field = _schema_at(path)
        assert field is not None, f"printer column {column['name']} reads a missing field"
        assert field["type"] == column["type"], column["name"]


# --- the schema and the dataclasses are one thing ------------------------------------------


def _dataclasses_in_schema() -> Iterator[tuple[type, dict[str, Any], str]]:
    """Each API dataclass with the schema node generated for it."""
    pending: list[tuple[type, dict[str, Any], str]] = [
        (ModelDeploymentSpec, schema()["properties"]["spec"], "spec"),
        (ModelDeploymentStatus, schema()["properties"]["status"], "status"),
    ]
    while pending:
        cls, node, path = pending.pop()
        yield cls, node, path
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            child = node["properties"][json_name(field)]
            for arg in (hints[field.name], *typing.get_args(hints[field.name])):
                if dataclasses.is_dataclass(arg):
                    target = child["items"] if child["type"] == "array" else child
                    pending.append((typing.cast(type, arg), target, f"{path}.{json_name(field)}"))


def test_every_dataclass_field_is_in_the_schema_with_its_description_and_nothing_else() -> None:
    seen = set()
    for cls, node, path in _dataclasses_in_schema():
        seen.add(cls.__name__)
        fields = {json_name(field): field for field in dataclasses.fields(cls)}
        assert set(node["properties"]) == set(fields), path
        for name, field in fields.items():
            doc = field_doc(field)
            assert doc.description.strip(), f"{path}.{name} has no description"
            assert node["properties"][name]["description"] == doc.description
        required = {
            name
            for name, field in fields.items()
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            or field_doc(field).required
        }
        assert set(node.get("required", [])) == required, path
    assert {"GpuSpec", "GateSpec", "SecretRef", "Condition", "VersionStatus"} <= seen


def test_every_property_has_a_type_and_a_description() -> None:
    for path, node in nodes(schema()):
        if path.endswith("|anyOf"):
            continue
        typed = "type" in node or node.get("x-kubernetes-int-or-string") or _checked_leaf(node)
        assert typed, f"{path} has no type (the schema would not be structural)"
        if path and not path.endswith("[*]") and path != "metadata":
            assert node.get("description"), f"{path} has no description for kubectl explain"


def test_the_schema_is_structural() -> None:
    for path, node in nodes(schema()):
        assert not ("properties" in node and "additionalProperties" in node), path
        if "x-kubernetes-preserve-unknown-fields" in node:
            # Only an untyped scalar (a number or a duration), never an object whose unknown
            # fields would be kept.
            assert _checked_leaf(node), path
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
            assert node.get("anyOf") == [{"type": "integer"}, {"type": "string"}], path
        for alternative in node.get("anyOf", []):
            assert set(alternative) == {"type"}, f"{path}: anyOf may only name types"
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), path


def _checked_leaf(node: dict[str, Any]) -> bool:
    """An untyped scalar checked by the value's own type (a number above a minimum, a string
    matching a pattern): spec.rollout.analysis.metrics[].max, a number or a duration."""
    return (
        node.get("x-kubernetes-preserve-unknown-fields") is True
        and "minimum" in node
        and "pattern" in node
        and not {"type", "properties", "items", "additionalProperties"} & set(node)
    )


def _valid_under(value: Any, node: dict[str, Any]) -> bool:
    kind = str(node.get("type", ""))
    if node.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    checks = {
        "object": isinstance(value, dict),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }
    if not checks.get(kind, False):
        return False
    if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
        return False
    if "enum" in node and value not in node["enum"]:
        return False
    if isinstance(value, int | float) and value < node.get("minimum", value):
        return False
    return not (isinstance(value, int | float) and value > node.get("maximum", value))


def test_every_default_is_valid_under_its_own_schema() -> None:
    defaults = [(path, node) for path, node in nodes(schema()) if "default" in node]
    assert len(defaults) >= 15
    for path, node in defaults:
        assert _valid_under(node["default"], node), f"{path} default {node['default']!r}"


def test_schema_defaults_are_the_python_defaults() -> None:
    for cls, node, path in _dataclasses_in_schema():
        for field in dataclasses.fields(cls):
            doc = field_doc(field)
            property_schema = node["properties"][json_name(field)]
            if "default" not in property_schema:
                continue
            assert doc.default is not NO_DEFAULT
            assert property_schema["default"] == doc.default, f"{path}.{json_name(field)}"


# What kube-apiserver v1.36.3 stored for `spec: {model: {storageUri: s3://models/digits}}`
# with this CRD (kubectl get md -o yaml), so the defaulting below is checked against it.
STORED_BY_THE_API_SERVER = {
    "model": {"storageUri": "s3://models/digits"},
    "rollout": {"maxSurge": 1, "maxUnavailable": 0, "strategy": "RollingUpdate"},
    "serving": {
        "batching": {"batchTimeoutMicros": 2000, "maxBatchSize": 32},
        "gpu": {"count": 0, "resourceName": "nvidia.com/gpu"},
        "port": 8501,
        "grpcPort": 8500,
        "progressDeadline": "10m",
        "replicas": 1,
    },
    "storage": {"pollInterval": "30s"},
}


def test_defaulting_here_matches_what_the_api_server_stored() -> None:
    raw = {"model": {"storageUri": "s3://models/digits"}}
    assert apply_schema_defaults(raw, schema()["properties"]["spec"]) == STORED_BY_THE_API_SERVER


@pytest.mark.parametrize(
    "raw",
    [
        {"model": {"storageUri": "s3://models/digits"}},
        {
            "model": {"storageUri": "s3://models/digits", "name": "d", "version": 2},
            "storage": {"secretRef": {"name": "creds"}},
            "serving": {"gpu": {"count": 2}, "replicas": 3},
            "training": {"entrypoint": "t:main", "gate": {"metric": "acc", "min": 0.5}},
        },
    ],
)
def test_a_stored_spec_and_the_raw_spec_parse_the_same(raw: dict[str, Any]) -> None:
    stored = apply_schema_defaults(raw, schema()["properties"]["spec"])
    assert stored != raw  # the server did add defaults
    assert parse_spec(stored, name="digits") == parse_spec(raw, name="digits")


def test_cel_rules_name_the_full_path_of_their_field() -> None:
    rules = [
        (path, rule)
        for path, node in nodes(schema())
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 8
    for path, rule in rules:
        where = path if path else "spec"
        assert where.split("[")[0] in rule["message"], (path, rule["message"])
        assert rule["reason"] in {"FieldValueInvalid", "FieldValueRequired"}


def test_strings_read_by_cel_have_a_length_limit() -> None:
    # The API server estimates a rule's cost from the longest string it may see; a bound
    # keeps every rule far inside the cost limit.
    for path, node in nodes(schema()):
        for rule in node.get("x-kubernetes-validations", []):
            if "self.matches(" in rule["rule"]:
                assert "maxLength" in node, path
