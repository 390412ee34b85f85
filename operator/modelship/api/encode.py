"""Turning the API dataclasses back into the JSON a Kubernetes resource holds (camelCase
names, durations as strings), guided by the same field declarations as the schema."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from modelship.api.duration import format_duration
from modelship.api.fields import field_doc, json_name


def to_resource_dict(obj: Any) -> dict[str, Any]:
    """The resource JSON of a spec or status dataclass. Fields that are None are left out,
    as the API server would; empty lists and maps are kept."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"expected an API dataclass instance, got {type(obj).__name__}")
    result: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if value is None:
            continue
        if field_doc(field).duration_bounds is not None:
            result[json_name(field)] = format_duration(value)
        else:
            result[json_name(field)] = _to_json_value(value)
    return result


def _to_json_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_resource_dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json_value(item) for item in value]
    return value
