"""The error raised for a ModelDeployment spec that cannot be used, and its reason words."""

from __future__ import annotations

from typing import Final

MISSING_FIELD: Final = "MissingField"
UNKNOWN_FIELD: Final = "UnknownField"
WRONG_TYPE: Final = "WrongType"
OUT_OF_RANGE: Final = "OutOfRange"
INVALID_VALUE: Final = "InvalidValue"
UNSUPPORTED_VALUE: Final = "UnsupportedValue"
CONFLICTING_FIELDS: Final = "ConflictingFields"


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
