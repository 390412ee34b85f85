"""`modelship rollout status | promote | abort NAME`: a canary or blue-green rollout from the
command line.

`status` prints the steps with their weights (a blue-green rollout: its preview and the version
the Service sends traffic to), where the rollout stands and the analysis' last measurement, the
new version beside the stable one (`--output json` for scripts, `--watch` to follow it).
`promote` and `abort` set the annotations the operator acts on (modelship.io/promote,
modelship.io/abort) to a new value, as `kubectl annotate --overwrite` would; the operator does
the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click

from modelship.api import GROUP, VERSION, RolloutPhase
from modelship.controller.kube import Kube
from modelship.reconcile.analysis import format_value
from modelship.reconcile.rollout import ABORT_ANNOTATION, PROMOTE_ANNOTATION, canary_replicas

API_VERSION = f"{GROUP}/{VERSION}"


def rollout_table(body: Mapping[str, Any]) -> str:
    """The rollout of a ModelDeployment as a person reads it: a summary, then the steps."""
    meta = body.get("metadata") or {}
    spec_rollout = (body.get("spec") or {}).get("rollout") or {}
    replicas = int(((body.get("spec") or {}).get("serving") or {}).get("replicas", 1))
    status = (body.get("status") or {}).get("rollout") or {}
    strategy = spec_rollout.get("strategy", "RollingUpdate")
    lines = [f"Name:      {meta.get('namespace', '')}/{meta.get('name', '')}"]
    lines.append(f"Strategy:  {strategy}")
    if not status:
        lines.append("Rollout:   none yet")
        return "\n".join(lines) + "\n"
    lines += [
        f"Phase:     {status.get('phase', '')} ({status.get('reason', '')})",
        f"Stable:    version {status.get('stableVersion', '-')}, "
        f"{status.get('stableReplicas', '-')} replicas",
    ]
    if status.get("strategy") == "BlueGreen":
        name = meta.get("name", "")
        lines += [
            f"Preview:   version {status.get('canaryVersion', '-')}, "
            f"{status.get('canaryReplicas', '-')} replicas, Service {name}-preview",
            f"Active:    version {status.get('activeVersion', '-')} takes the traffic of "
            f"Service {name}"
            + (f" (since {status['switchedAt']})" if status.get("switchedAt") else ""),
            f"Message:   {status.get('message', '')}",
        ]
        lines += analysis_lines(status.get("analysis"))
        for rejected in status.get("rejected") or []:
            lines.append(f"Rejected:  version {rejected.get('number')}: {rejected.get('reason')}")
        return "\n".join(lines) + "\n"
    lines += [
        f"Canary:    version {status.get('canaryVersion', '-')}, "
        f"{status.get('canaryReplicas', '-')} replicas",
        f"Weight:    {status.get('weight', 0)}% of the ready pods",
        f"Message:   {status.get('message', '')}",
        "",
        f"{'STEP':<6}{'WEIGHT':<8}{'PODS':<7}{'PAUSE':<10}STATE",
    ]
    current = int(status.get("step") or 0)
    phase = status.get("phase")
    for index, step in enumerate(spec_rollout.get("steps") or [], start=1):
        if phase in (RolloutPhase.PROMOTING, RolloutPhase.PROMOTED) or index < current:
            state = "done"
        elif index == current and phase in (RolloutPhase.PROGRESSING, RolloutPhase.PAUSED):
            state = phase.lower()
        elif index == current:
            state = str(phase).lower()
        else:
            state = ""
        pods = canary_replicas(replicas, int(step.get("weight", 0)))
        pause = step.get("pause") or "promote"
        lines.append(f"{index:<6}{str(step.get('weight')) + '%':<8}{pods:<7}{pause:<10}{state}")
    lines += analysis_lines(status.get("analysis"))
    for rejected in status.get("rejected") or []:
        lines.append(f"Rejected:  version {rejected.get('number')}: {rejected.get('reason')}")
    return "\n".join(lines) + "\n"


def analysis_lines(analysis: Mapping[str, Any] | None) -> list[str]:
    """status.rollout.analysis as a table: the canary beside the stable version, per metric."""
    if not analysis:
        return []
    limit = analysis.get("failureLimit", "-")
    lines = [
        "",
        f"Analysis:  version {analysis.get('version', '-')}, "
        f"{analysis.get('measurements', 0)} measurements, {analysis.get('failures', 0)} failed "
        f"(rollback at {limit}), last {analysis.get('verdict', 'none yet')}"
        + (f" at {analysis['time']}" if analysis.get("time") else ""),
    ]
    results = analysis.get("results") or []
    if not results:
        return lines
    lines.append(f"{'METRIC':<16}{'CANARY':<10}{'STABLE':<10}{'MAX':<10}{'REQUESTS':<10}VERDICT")
    for result in results:
        name = str(result.get("metric", ""))
        verdict = str(result.get("verdict", ""))
        if result.get("message"):
            verdict += f": {result['message']}"
        requests = result.get("requests")
        lines.append(
            f"{name:<16}{format_value(name, result.get('value')):<10}"
            f"{format_value(name, result.get('stableValue')):<10}"
            f"{format_value(name, result.get('max')):<10}"
            f"{'-' if requests is None else requests!s:<10}{verdict}"
        )
    return lines


def _namespace_option(command: Any) -> Any:
    return click.option(
        "-n", "--namespace", default="default", show_default=True, help="The namespace."
    )(command)


@click.group()
def rollout() -> None:
    """A ModelDeployment's canary or blue-green rollout: status, promote, abort."""


@rollout.command()
@click.argument("name")
@_namespace_option
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table")
@click.option("--watch", "-w", is_flag=True, help="Print it again whenever it changes.")
def status(name: str, namespace: str, output: str, watch: bool) -> None:
    """Print the rollout's steps, weights and phase."""
    kube = Kube.from_environment()
    shown = None
    while True:
        body = _get(kube, namespace, name)
        text = (
            json.dumps((body.get("status") or {}).get("rollout") or {}, indent=2) + "\n"
            if output == "json"
            else rollout_table(body)
        )
        if text != shown:
            click.echo(text, nl=False)
            shown = text
        if not watch:
            return
        time.sleep(2)


@rollout.command()
@click.argument("name")
@_namespace_option
def promote(name: str, namespace: str) -> None:
    """Go on to the next step now (skipping a pause, or ending a step without one)."""
    _annotate(name, namespace, PROMOTE_ANNOTATION)
    click.echo(f"{namespace}/{name}: promotion requested")


@rollout.command()
@click.argument("name")
@_namespace_option
def abort(name: str, namespace: str) -> None:
    """Roll the canary back: every replica to the stable version, the new one rejected."""
    _annotate(name, namespace, ABORT_ANNOTATION)
    click.echo(f"{namespace}/{name}: abort requested")


def _get(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    body = kube.get(API_VERSION, "ModelDeployment", namespace, name)
    if body is None:
        raise click.ClickException(f"ModelDeployment {namespace}/{name} not found")
    return body


def _annotate(name: str, namespace: str, key: str) -> None:
    kube = Kube.from_environment()
    _get(kube, namespace, name)
    value = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kube.patch_annotations(API_VERSION, "ModelDeployment", namespace, name, {key: value})
