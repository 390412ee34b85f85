"""The contract between the training Jobs the operator builds (reconcile/training.py) and the
trainer that runs in them (`modelship train`, modelship.training): the environment variables
the operator sets and the trainer reads, the exit codes the trainer ends with and the Job's
pod failure policy switches on, and the lines it leaves in its termination log for the
operator to read. Both sides import these names from here, so neither imports the other.
"""

from __future__ import annotations

from typing import Final

# Who the run is, recorded in the version's manifest (`created_by`).
ENV_TRAINING_JOB: Final = "MODELSHIP_TRAINING_JOB"
ENV_POD_NAME: Final = "MODELSHIP_POD_NAME"
ENV_GIT_COMMIT: Final = "MODELSHIP_GIT_COMMIT"
# A worker's completion index, expanded by Kubernetes into TF_CONFIG (several workers).
ENV_WORKER_INDEX: Final = "MODELSHIP_WORKER_INDEX"
# Where the termination log is, when not /dev/termination-log (tests, local runs).
ENV_TERMINATION_LOG: Final = "MODELSHIP_TERMINATION_LOG"
# TensorFlow's own description of the training cluster and this worker's place in it.
ENV_TF_CONFIG: Final = "TF_CONFIG"
# Where the store is and the credentials (secretKeyRef to spec.storage.secretRef): boto3's
# own names, so the trainer's S3 client reads them with no code of ours.
ENV_S3_ENDPOINT: Final = "AWS_ENDPOINT_URL"
ENV_S3_REGION: Final = "AWS_REGION"
ENV_S3_ACCESS_KEY_ID: Final = "AWS_ACCESS_KEY_ID"
ENV_S3_SECRET_ACCESS_KEY: Final = "AWS_SECRET_ACCESS_KEY"

# Every name the operator sets; spec.training.env may set none of them (nor any other name
# with the prefix), so the wiring cannot be overridden by accident.
RESERVED_ENV_PREFIX: Final = "MODELSHIP_"
RESERVED_ENV_NAMES: Final = (
    "HOME",
    ENV_TF_CONFIG,
    ENV_S3_ENDPOINT,
    ENV_S3_REGION,
    ENV_S3_ACCESS_KEY_ID,
    ENV_S3_SECRET_ACCESS_KEY,
)

# The trainer exits with RETRYABLE_EXIT_CODE (as any crash does) when another try may
# succeed: the Job retries up to spec.training.backoffLimit times. It exits with
# PERMANENT_FAILURE_EXIT_CODE when retrying cannot help (no such entrypoint, not a model,
# version taken): the Job's pod failure policy then fails the Job at once.
RETRYABLE_EXIT_CODE: Final = 1
PERMANENT_FAILURE_EXIT_CODE: Final = 2

# The chief's termination log after publishing: "Published: version 3 (sha256:...) with ...".
# After a failure it is "<Reason>: <sentence>" (and "error: <Reason>: <sentence>" on stderr).
PUBLISHED_PREFIX: Final = "Published: "
