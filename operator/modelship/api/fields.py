"""How a field of the ModelDeployment resource is declared: its description, JSON name,
default and validation.

Every field of the spec and status dataclasses carries a `FieldDoc` in its dataclass
metadata. The CRD schema generator (`modelship.api.schema`) and the spec parser
(`modelship.api.parse`) both read these declarations, so the API server and the operator
check the same things with the same words.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from modelship.api.duration import DURATION_PATTERN, parse_duration

METADATA_KEY: Final = "modelship"


class _NoDefault:
    """Marks a field the user must set (it becomes `required` in the schema)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault()


@dataclass(frozen=True)
class Rule:
    """A check across the fields of one object: a CEL rule for the API server and the same
    check in Python for `parse_spec`, declared side by side so they say the same thing.

    `message` may contain `{path}`, replaced by the object's JSON path (for example
    "spec.serving.gpu"), so both the API server and `parse_spec` name the field in full.
    """

    cel: str
    """The CEL expression (`self` is the object) the API server evaluates; empty for a check
    CEL cannot make (a field without a type), which only `parse_spec` makes."""
    holds: Callable[[Any], bool]
    """The same check on the parsed dataclass."""
    field: str
    """The JSON name of the field the message is about (reported as the error's field)."""
    reason: str
    """The CamelCase reason `SpecError` carries when the check fails."""
    message: str
    """The sentence shown when the check fails; `{path}` is the object's JSON path."""

    def render(self, path: str) -> str:
        return self.message.replace("{path}", path)


@dataclass(frozen=True)
class FieldDoc:
    """The declaration of one field: what it means and what values it accepts."""

    description: str
    """Shown by `kubectl explain`; says what the field does and its default."""
    json_name: str
    """The camelCase name in the resource (empty: derived from the Python name)."""
    default: Any = NO_DEFAULT
    """The default in JSON form, applied by the API server and by `parse_spec` alike."""
    server_default: bool = True
    """False keeps the default out of the schema (parse_spec still applies it)."""
    required: bool = False
    """Required in the schema even though the Python dataclass has a default."""
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    pattern_hint: str | None = None
    """What a matching value looks like, for error messages (e.g. "package.module:function")."""
    enum: tuple[str, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    format: str | None = None
    duration_bounds: tuple[str, str] | None = None
    """For a duration field: the shortest and longest duration allowed, as duration strings."""
    extensions: Mapping[str, Any] | None = None
    """Extra schema keywords for this field (e.g. x-kubernetes-list-type)."""
    schema: Mapping[str, Any] | None = None
    """A hand-written schema for a Kubernetes shape passed through unchanged (resources,
    tolerations); it replaces the one derived from the Python type."""
    check: Callable[[Any], str | None] | None = None
    """An extra check in Python only (e.g. cron syntax): returns what is wrong, or None."""


def camel_case(name: str) -> str:
    """`poll_interval` -> `pollInterval`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def prop(
    description: str,
    *,
    default: Any = NO_DEFAULT,
    default_factory: Callable[[], Any] | None = None,
    json_name: str = "",
    server_default: bool = True,
    required: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    pattern: str | None = None,
    pattern_hint: str | None = None,
    enum: tuple[str, ...] | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    format: str | None = None,
    extensions: Mapping[str, Any] | None = None,
    schema: Mapping[str, Any] | None = None,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """Declare a dataclass field with its API documentation and validation.

    `default` is both the Python default and the JSON default; `default_factory` gives a
    fresh empty container (no schema default: an absent map or list means empty).
    """
    if pattern is not None:
        re.compile(pattern)
    doc = FieldDoc(
        description=description,
        json_name=json_name,
        default=default,
        server_default=server_default and default is not None,
        required=required,
        minimum=minimum,
        maximum=maximum,
        pattern=pattern,
        pattern_hint=pattern_hint,
        enum=enum,
        min_length=min_length,
        max_length=max_length,
        format=format,
        extensions=extensions,
        schema=schema,
        check=check,
    )
    metadata = {METADATA_KEY: doc}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if default is NO_DEFAULT:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def duration_prop(
    description: str,
    *,
    default: str | None,
    minimum: str,
    maximum: str,
    json_name: str = "",
) -> Any:
    """Declare a duration: a string like "30s" or "1h30m" in the resource, float seconds in
    Python. `minimum`/`maximum` bound it (checked by CEL on the server and by parse_spec)."""
    doc = FieldDoc(
        description=description,
        json_name=json_name,
        default=default,
        server_default=default is not None,
        pattern=DURATION_PATTERN,
        pattern_hint='a duration such as "30s", "5m" or "1h30m"',
        max_length=32,
        duration_bounds=(minimum, maximum),
    )
    python_default = None if default is None else parse_duration(default)
    return dataclasses.field(default=python_default, metadata={METADATA_KEY: doc})


def object_prop(description: str, cls: type, *, optional: bool = False) -> Any:
    """Declare a nested object. Unless `optional`, it defaults to `{}` (so its own field
    defaults apply when the user leaves the whole object out)."""
    if optional:
        doc = FieldDoc(description=description, json_name="", default=None, server_default=False)
        return dataclasses.field(default=None, metadata={METADATA_KEY: doc})
    doc = FieldDoc(description=description, json_name="", default={})
    return dataclasses.field(default_factory=cls, metadata={METADATA_KEY: doc})


def field_doc(field: dataclasses.Field[Any]) -> FieldDoc:
    """The declaration of a dataclass field (every API field must have one)."""
    doc = field.metadata.get(METADATA_KEY)
    if not isinstance(doc, FieldDoc):
        raise TypeError(f"field {field.name!r} was declared without prop(); it has no API docs")
    return doc


def json_name(field: dataclasses.Field[Any]) -> str:
    """The camelCase name a dataclass field has in the resource."""
    return field_doc(field).json_name or camel_case(field.name)


def rules_of(cls: type) -> tuple[Rule, ...]:
    """The cross-field rules declared on a dataclass (class attribute `RULES`)."""
    rules = getattr(cls, "RULES", ())
    return tuple(rules)
