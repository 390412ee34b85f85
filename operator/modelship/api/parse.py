"""Reading a ModelDeployment's spec into typed, immutable objects, once, with errors a
person can act on.

The parser walks the same field declarations the CRD schema is generated from, so it
applies the same defaults and checks: it accepts both what the API server stored (defaults
filled in) and a raw spec from a file (defaults missing). It also checks what a schema
cannot (cron syntax, the model name a metadata.name would give).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from modelship.api.duration import parse_duration
from modelship.api.errors import (
    INVALID_VALUE,
    MISSING_FIELD,
    OUT_OF_RANGE,
    UNKNOWN_FIELD,
    UNSUPPORTED_VALUE,
    WRONG_TYPE,
    SpecError,
)
from modelship.api.fields import NO_DEFAULT, FieldDoc, field_doc, json_name, rules_of
from modelship.api.spec import MODEL_NAME_MAX_LENGTH, MODEL_NAME_PATTERN, ModelDeploymentSpec


def parse_spec(spec: Mapping[str, Any], *, name: str) -> ModelDeploymentSpec:
    """Parse and validate a ModelDeployment's spec; `name` is its metadata.name, the default
    of spec.model.name. Raises SpecError naming the first field that is wrong."""
    parsed = _decode_object(ModelDeploymentSpec, spec, "spec")
    if parsed.model.name is not None:
        return parsed
    if len(name) > MODEL_NAME_MAX_LENGTH or not re.fullmatch(MODEL_NAME_PATTERN, name):
        raise SpecError(
            "spec.model.name",
            INVALID_VALUE,
            f'spec.model.name is not set, so it would be metadata.name "{name}", which is not '
            f"a usable model name (at most {MODEL_NAME_MAX_LENGTH} letters, digits, '-', '_' "
            "and '.'): set spec.model.name",
        )
    model = dataclasses.replace(parsed.model, name=name)
    return dataclasses.replace(parsed, model=model)


@functools.cache
def _declared(cls: type) -> tuple[dict[str, dataclasses.Field[Any]], dict[str, Any]]:
    """A spec class's fields by their JSON name, and their resolved type hints. Once per
    class: resolving the hints (`typing.get_type_hints`) was most of a parse's time, and the
    operator parses every new spec of every ModelDeployment."""
    fields = {json_name(field): field for field in dataclasses.fields(cls)}
    return fields, typing.get_type_hints(cls)


def _decode_object(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise SpecError(path, WRONG_TYPE, f"{path} must be an object, not {_describe(data)}")
    fields, hints = _declared(cls)
    for key in data:
        if key not in fields:
            raise SpecError(f"{path}.{key}", UNKNOWN_FIELD, _unknown_field(path, str(key), fields))
    values: dict[str, Any] = {}
    for key, field in fields.items():
        doc = field_doc(field)
        raw = data.get(key)
        # The API server drops nulls before defaulting; a null here means "not set" too.
        if raw is None:
            if doc.default is NO_DEFAULT and field.default_factory is dataclasses.MISSING:
                raise SpecError(
                    f"{path}.{key}", MISSING_FIELD, f"{path}.{key} is required: {doc.description}"
                )
            continue
        values[field.name] = _decode_field(hints[field.name], doc, raw, f"{path}.{key}")
    obj = cls(**values)
    for rule in rules_of(cls):
        if not rule.holds(obj):
            where = f"{path}.{rule.field}" if rule.field else path
            raise SpecError(where, rule.reason, rule.render(path))
    return obj


def _decode_field(hint: Any, doc: FieldDoc, raw: Any, path: str) -> Any:
    if doc.duration_bounds is not None:
        return _decode_duration(doc.duration_bounds, raw, path)
    if doc.schema is not None:
        _check_against_schema(raw, doc.schema, path)
        if doc.check is not None and (problem := doc.check(raw)) is not None:
            raise SpecError(path, INVALID_VALUE, f"{path} {problem}")
        return copy.deepcopy(_plain(raw))
    value = _decode_typed(_without_none(hint), raw, path)
    _check_constraints(doc, value, path)
    return value


def _decode_typed(hint: Any, raw: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _decode_object(typing.cast(type, hint), raw, path)
    if origin is Literal:
        # The field's own enum= checks a plain field; this covers Literal list items too.
        text = _expect(raw, str, "a string", path)
        _check_text(text, path, enum=args)
        return text
    if origin in (types.UnionType, typing.Union) and set(args) == {int, str}:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise SpecError(
                path, WRONG_TYPE, f"{path} must be a number or a string, not {_describe(raw)}"
            )
        return raw
    if origin is dict:
        mapping = _expect(raw, Mapping, "an object (a map)", path)
        return {
            str(key): _decode_typed(args[1], value, f"{path}.{key}")
            for key, value in mapping.items()
        }
    if origin is list:
        items = _expect(raw, list, "a list", path)
        return [
            _decode_typed(args[0], item, f"{path}[{index}]") for index, item in enumerate(items)
        ]
    if hint is bool:
        return _expect(raw, bool, "true or false", path)
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise SpecError(path, WRONG_TYPE, f"{path} must be an integer, not {_describe(raw)}")
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise SpecError(path, WRONG_TYPE, f"{path} must be a number, not {_describe(raw)}")
        return float(raw)
    if hint is str:
        return _expect(raw, str, "a string", path)
    if hint is Any:
        return copy.deepcopy(raw)
    raise TypeError(f"no decoder for {hint!r} at {path}")  # a declaration bug, not user input


def _decode_duration(bounds: tuple[str, str], raw: Any, path: str) -> float:
    if not isinstance(raw, str):
        raise SpecError(
            path,
            WRONG_TYPE,
            f'{path} must be a duration string such as "30s" or "5m", not {_describe(raw)}',
        )
    try:
        seconds = parse_duration(raw)
    except ValueError as error:
        raise SpecError(path, INVALID_VALUE, f"{path} {error}") from None
    shortest, longest = bounds
    if not parse_duration(shortest) <= seconds <= parse_duration(longest):
        raise SpecError(
            path, OUT_OF_RANGE, f'{path} "{raw}" must be between {shortest} and {longest}'
        )
    return seconds


def _check_constraints(doc: FieldDoc, value: Any, path: str) -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and doc.minimum is not None and value < doc.minimum:
        raise SpecError(
            path, OUT_OF_RANGE, f"{path} is {value}, but must be at least {_number(doc.minimum)}"
        )
    if is_number and doc.maximum is not None and value > doc.maximum:
        raise SpecError(
            path, OUT_OF_RANGE, f"{path} is {value}, but must be at most {_number(doc.maximum)}"
        )
    if not isinstance(value, str):
        return
    _check_text(
        value,
        path,
        enum=doc.enum,
        min_length=doc.min_length,
        max_length=doc.max_length,
        pattern=doc.pattern,
        pattern_hint=doc.pattern_hint,
    )
    if doc.check is not None:
        problem = doc.check(value)
        if problem is not None:
            raise SpecError(path, INVALID_VALUE, f"{path} {problem}")


def _check_against_schema(value: Any, schema: Mapping[str, Any], path: str) -> None:
    """Check a pass-through Kubernetes shape (resources, tolerations) against the same
    hand-written schema the CRD carries (the few keywords those schemas use)."""
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SpecError(
                path, WRONG_TYPE, f"{path} must be a number or a string, not {_describe(value)}"
            )
        if isinstance(value, int) and value < 0:
            raise SpecError(path, OUT_OF_RANGE, f"{path} is {value}, but must not be negative")
        if (
            isinstance(value, str)
            and "pattern" in schema
            and not re.search(schema["pattern"], value)
        ):
            raise SpecError(
                path, INVALID_VALUE, f'{path} "{value}" must look like a quantity such as "500m"'
            )
        return
    kind = schema.get("type")
    if kind == "object":
        mapping = _expect(value, Mapping, "an object (a map)", path)
        properties: Mapping[str, Any] = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in mapping:
                raise SpecError(f"{path}.{key}", MISSING_FIELD, f"{path}.{key} is required")
        extra = schema.get("additionalProperties")
        for key, item in mapping.items():
            if key in properties:
                _check_against_schema(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, Mapping):
                _check_against_schema(item, extra, f"{path}.{key}")
            else:
                raise SpecError(
                    f"{path}.{key}", UNKNOWN_FIELD, _unknown_field(path, str(key), properties)
                )
    elif kind == "array":
        items = _expect(value, list, "a list", path)
        if "maxItems" in schema and len(items) > schema["maxItems"]:
            raise SpecError(
                path,
                OUT_OF_RANGE,
                f"{path} has {len(items)} items; the most allowed is {schema['maxItems']}",
            )
        for index, item in enumerate(items):
            _check_against_schema(item, schema["items"], f"{path}[{index}]")
    elif kind == "string":
        _check_text(
            _expect(value, str, "a string", path),
            path,
            enum=schema.get("enum"),
            min_length=schema.get("minLength"),
            max_length=schema.get("maxLength"),
            pattern=schema.get("pattern"),
        )
    elif kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        raise SpecError(path, WRONG_TYPE, f"{path} must be an integer, not {_describe(value)}")
    elif kind == "boolean" and not isinstance(value, bool):
        raise SpecError(path, WRONG_TYPE, f"{path} must be true or false, not {_describe(value)}")


def _check_text(
    text: str,
    path: str,
    *,
    enum: Sequence[str] | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    pattern_hint: str | None = None,
) -> None:
    """The string checks a field declaration and a hand-written schema both make."""
    if enum is not None and text not in enum:
        raise SpecError(
            path, UNSUPPORTED_VALUE, f'{path} "{text}" is not supported: use {_one_of(enum)}'
        )
    if min_length is not None and len(text) < min_length:
        raise SpecError(path, INVALID_VALUE, f"{path} must not be empty")
    if max_length is not None and len(text) > max_length:
        raise SpecError(
            path,
            INVALID_VALUE,
            f"{path} is {len(text)} characters long; the most allowed is {max_length}",
        )
    if pattern is not None and not re.search(pattern, text):
        hint = pattern_hint or f"the pattern {pattern}"
        raise SpecError(path, INVALID_VALUE, f'{path} "{text}" must look like {hint}')


def _expect(raw: Any, kind: Any, what: str, path: str) -> Any:
    if not isinstance(raw, kind) or (kind is not bool and isinstance(raw, bool)):
        raise SpecError(path, WRONG_TYPE, f"{path} must be {what}, not {_describe(raw)}")
    return raw


def _without_none(hint: Any) -> Any:
    """`X | None` -> X (an absent field never reaches the decoder)."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        rest = tuple(arg for arg in typing.get_args(hint) if arg is not type(None))
        if len(rest) == 1:
            return rest[0]
        return typing.Union[rest]  # noqa: UP007 - built from a runtime tuple
    return hint


def _plain(value: Any) -> Any:
    """Mappings as plain dicts, so the parsed spec owns no view of its input."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _unknown_field(path: str, key: str, known: Mapping[str, Any]) -> str:
    message = f"{path}.{key} is not a field of {path}"
    close = difflib.get_close_matches(key, list(known), n=1)
    if close:
        return f"{message}: did you mean {path}.{close[0]}?"
    return f"{message}; its fields are {', '.join(known)}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _one_of(choices: Any) -> str:
    return ", ".join(str(choice) for choice in choices)
