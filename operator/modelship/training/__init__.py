"""The trainer that runs inside training Jobs (`modelship train`): it calls the user's
entrypoint with a TrainingContext, exports the model it returns as a SavedModel, and the
chief publishes it as one version, with its metrics, through the artifact store.

The contract for entrypoint authors is docs/training.md.
"""

from modelship.training.context import TaskInfo, TrainingContext, task_from_tf_config
from modelship.training.entrypoint import EntrypointResult, load_entrypoint, read_result
from modelship.training.errors import TrainingError
from modelship.training.runtime import TrainingRequest, TrainingResult, run_training

__all__ = [
    "EntrypointResult",
    "TaskInfo",
    "TrainingContext",
    "TrainingError",
    "TrainingRequest",
    "TrainingResult",
    "load_entrypoint",
    "read_result",
    "run_training",
    "task_from_tf_config",
]
