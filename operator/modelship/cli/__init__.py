"""The `modelship` entry point: run | serve | pull | push | versions | train | optimize | dev
| rollout.

Each subcommand lives in its own module and is imported only when it is invoked, so
`modelship pull` in an init container never pays for importing kopf or TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> (module, attribute, one-line help shown by `modelship --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("modelship.cli.run", "run", "Run the operator."),
    "serve": ("modelship.cli.serve", "serve", "Serve a SavedModel or TFLite model over HTTP."),
    "pull": ("modelship.cli.artifacts", "pull", "Download and verify one model version."),
    "push": ("modelship.cli.artifacts", "push", "Publish a SavedModel as a new version."),
    "versions": ("modelship.cli.artifacts", "versions", "List a model's versions."),
    "train": ("modelship.cli.train", "train", "Run a training entrypoint and publish."),
    "optimize": (
        "modelship.cli.optimize",
        "optimize",
        "Quantize a version to TensorFlow Lite and publish it.",
    ),
    "dev": ("modelship.cli.dev", "dev", "The local sandbox: a simulated GPU cluster + S3."),
    "rollout": ("modelship.cli.rollout", "rollout", "A canary rollout: status, promote, abort."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        command: Any = getattr(importlib.import_module(module_name), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="modelship")
def main() -> None:
    """modelship: train, verify, serve and roll out ML models on Kubernetes."""
