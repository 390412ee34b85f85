"""How a runtime command (pull, push, serve, train) says why it stopped: one line
`Reason: sentence` on stderr (prefixed `error: ` when it failed) and in the Kubernetes
termination log, which `kubectl describe` and the operator's status show."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from modelship.api.trainer import ENV_TERMINATION_LOG

DEFAULT_TERMINATION_LOG = Path("/dev/termination-log")
# Kubernetes keeps at most 4096 bytes of the termination message.
_MAX_BYTES = 4000


def termination_log_path() -> Path | None:
    """$MODELSHIP_TERMINATION_LOG, else /dev/termination-log when it exists and is writable."""
    named = os.environ.get(ENV_TERMINATION_LOG)
    if named:
        return Path(named)
    if DEFAULT_TERMINATION_LOG.exists() and os.access(DEFAULT_TERMINATION_LOG, os.W_OK):
        return DEFAULT_TERMINATION_LOG
    return None


def write_termination_log(line: str) -> None:
    path = termination_log_path()
    if path is not None:
        with contextlib.suppress(OSError):  # the stderr line is there either way
            path.write_text(line[:_MAX_BYTES] + "\n")


def fail(reason: str, message: str, exit_code: int = 1) -> NoReturn:
    """Print `error: Reason: sentence`, leave it in the termination log, exit non-zero."""
    line = f"{reason}: {' '.join(message.split())}"
    click.echo(f"error: {line}", err=True)
    write_termination_log(line)
    sys.exit(exit_code)
