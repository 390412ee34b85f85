"""The error raised for a ModelDeployment spec that cannot be used, and its reason words."""

from __future__ import annotations

# The reasons this error carries, defined (with what a person should do) in api/reasons.py.
from modelship.api.reasons import (
    CONFLICTING_FIELDS,
    INVALID_VALUE,
    MISSING_FIELD,
    OUT_OF_RANGE,
    UNKNOWN_FIELD,
    UNSUPPORTED_VALUE,
    WRONG_TYPE,
)


class SpecError(ValueError):
    """A spec the operator cannot act on.

    `field` is the JSON path of the offending field ("spec.serving.gpu.count"), `reason` a
    CamelCase word a script can switch on, `message` a sentence naming the field, the value
    and what to write instead.
    """

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"SpecError(field={self.field!r}, reason={self.reason!r}, message={self.message!r})"


__all__ = [
    "CONFLICTING_FIELDS",
    "INVALID_VALUE",
    "MISSING_FIELD",
    "OUT_OF_RANGE",
    "UNKNOWN_FIELD",
    "UNSUPPORTED_VALUE",
    "WRONG_TYPE",
    "SpecError",
]
