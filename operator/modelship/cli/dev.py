"""`modelship dev`: build, start, inspect and stop the local sandbox."""

from __future__ import annotations

import json
import shlex
import sys

import click

from modelship.dev.binaries import COMPONENT_BINARIES, TestbedError, ensure_built
from modelship.dev.sandbox import Sandbox

NAME_OPTION = click.option(
    "--name",
    default="modelship",
    show_default=True,
    help="Which sandbox (several can run side by side).",
)


@click.group()
def dev() -> None:
    """The local sandbox: a simulated GPU cluster (kwok) and an S3 server, on 127.0.0.1."""


def _fail(error: Exception) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(1)


@dev.command()
@click.argument("components", nargs=-1, type=click.Choice(sorted(COMPONENT_BINARIES)))
def build(components: tuple[str, ...]) -> None:
    """Build the test bed's binaries from the Go module proxy (cached; a no-op when built)."""
    try:
        ensure_built(components or tuple(COMPONENT_BINARIES))
    except TestbedError as error:
        _fail(error)


@dev.command()
@NAME_OPTION
@click.option(
    "--operator/--no-operator",
    default=False,
    help="Also run the operator in the background against the sandbox.",
)
@click.option(
    "--real-node/--no-real-node",
    default=True,
    show_default=True,
    help="Also start the real node (kubelet + containerd) that runs the locally built images.",
)
def up(name: str, operator: bool, real_node: bool) -> None:
    """Start the sandbox (or reuse the running one) and print its environment."""
    sandbox = Sandbox(name)
    try:
        state = sandbox.up(real_node=real_node)
        if operator:
            pid = sandbox.start_operator()
            click.echo(f"# operator running (pid {pid}); log: {sandbox.operator_log}", err=True)
    except TestbedError as error:
        _fail(error)
        return
    click.echo(f"# sandbox '{name}' is up; eval \"$(modelship dev env)\" to use it", err=True)
    for key, value in state.exports().items():
        click.echo(f"export {key}={shlex.quote(value)}")


@dev.command()
@click.option(
    "--tensorflow",
    default="tensorflow-cpu",
    show_default=True,
    help="The TensorFlow build of the server and trainer images, e.g. 'tensorflow[and-cuda]'.",
)
@click.option("--version", default=None, help="The images' tag (default: the chart's appVersion).")
def images(tensorflow: str, version: str | None) -> None:
    """Build the operator, server and trainer images with a private Docker engine, from
    Debian's packages and PyPI only (the base is made once and cached)."""
    from modelship.dev import images as recipe
    from modelship.dev.docker import DockerEngine

    engine = DockerEngine()
    try:
        built = recipe.build_images(version=version, tensorflow=tensorflow, engine=engine)
    except TestbedError as error:
        _fail(error)
        return
    finally:
        engine.stop()  # nothing of the build is left running
    for kind, image in built.items():
        click.echo(
            f"{kind:9} {image.ref:40} {image.size_bytes / 1e6:7.0f} MB  "
            f"{image.build_seconds:6.1f} s  {image.image_id[:19]}"
        )


@dev.command()
@NAME_OPTION
def down(name: str) -> None:
    """Stop the sandbox, leaving no process and no listener behind."""
    leftovers = Sandbox(name).down()
    if leftovers:
        _fail(TestbedError(f"still listening after down: {', '.join(leftovers)}"))
    click.echo(f"sandbox '{name}' is down", err=True)


@dev.command()
@NAME_OPTION
def env(name: str) -> None:
    """Print KUBECONFIG and the S3 endpoint and credentials as shell exports."""
    state = Sandbox(name).state()
    if state is None:
        _fail(TestbedError(f"sandbox '{name}' is not running; start it with `modelship dev up`"))
        return
    for key, value in state.exports().items():
        click.echo(f"export {key}={shlex.quote(value)}")


@dev.command()
@NAME_OPTION
def status(name: str) -> None:
    """Say whether every component of the sandbox is running (exit 1 when not)."""
    description = Sandbox(name).describe()
    description.pop("AWS_SECRET_ACCESS_KEY", None)
    click.echo(json.dumps(description, indent=2))
    if not description["running"]:
        sys.exit(1)
