"""The one error type of the trainer and the reason words it carries.

Each reason is a CamelCase word the operator (and a person reading `kubectl describe pod`)
can switch on. A *permanent* failure will fail the same way on every retry (the entrypoint
does not exist, it returned something that is not a model, the version is taken), so the
trainer exits with the code the training Job's pod failure policy turns into "fail the Job
now" instead of spending the Job's retries on it.
"""

from __future__ import annotations

from typing import Final

from modelship.reconcile.training import PERMANENT_FAILURE_EXIT_CODE

TRAINING_FAILED: Final = "TrainingFailed"
ENTRYPOINT_NOT_FOUND: Final = "EntrypointNotFound"
INVALID_MODEL: Final = "InvalidModel"
INVALID_METRICS: Final = "InvalidMetrics"
INVALID_TF_CONFIG: Final = "InvalidTFConfig"
PUBLISH_FAILED: Final = "PublishFailed"
VERSION_EXISTS: Final = "VersionExists"
# The optimization Job (`modelship optimize`).
OPTIMIZATION_FAILED: Final = "OptimizationFailed"
INVALID_EVALUATION_DATA: Final = "InvalidEvaluationData"

RETRYABLE_EXIT_CODE: Final = 1
PERMANENT_EXIT_CODE: Final = PERMANENT_FAILURE_EXIT_CODE


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
