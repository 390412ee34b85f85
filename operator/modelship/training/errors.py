"""The one error type of the trainer and the reason words it carries.

Each reason is a CamelCase word the operator (and a person reading `kubectl describe pod`)
can switch on. A *permanent* failure will fail the same way on every retry (the entrypoint
does not exist, it returned something that is not a model, the version is taken), so the
trainer exits with the code the training Job's pod failure policy turns into "fail the Job
now" instead of spending the Job's retries on it.
"""

from __future__ import annotations

from typing import Final

from modelship.api import trainer

# The reasons this error carries, defined (with what a person should do) in api/reasons.py.
from modelship.api.reasons import (
    ENTRYPOINT_NOT_FOUND,
    INVALID_EVALUATION_DATA,
    INVALID_METRICS,
    INVALID_MODEL,
    INVALID_TF_CONFIG,
    OPTIMIZATION_FAILED,
    PUBLISH_FAILED,
    TRAINING_FAILED,
    VERSION_EXISTS,
)

RETRYABLE_EXIT_CODE: Final = trainer.RETRYABLE_EXIT_CODE
PERMANENT_EXIT_CODE: Final = trainer.PERMANENT_FAILURE_EXIT_CODE


class TrainingError(Exception):
    """A training run that cannot produce its version."""

    def __init__(self, reason: str, message: str, *, permanent: bool = False) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.permanent = permanent

    @property
    def exit_code(self) -> int:
        return PERMANENT_EXIT_CODE if self.permanent else RETRYABLE_EXIT_CODE


__all__ = [
    "ENTRYPOINT_NOT_FOUND",
    "INVALID_EVALUATION_DATA",
    "INVALID_METRICS",
    "INVALID_MODEL",
    "INVALID_TF_CONFIG",
    "OPTIMIZATION_FAILED",
    "PUBLISH_FAILED",
    "TRAINING_FAILED",
    "VERSION_EXISTS",
    "TrainingError",
]
