"""`modelship push | pull | versions`: a model's versions in S3 from the command line.

Tables for a person at a terminal, `--output json` for scripts. Failures print
`error: <Reason>: <sentence>` to stderr, exit 1, and (for the init container that runs
`pull`) leave the same line in the Kubernetes termination log.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from modelship.api.reasons import INVALID_BASELINE, INVALID_METRICS, LOCAL_FILE_ERROR
from modelship.artifacts import (
    ArtifactError,
    ArtifactStore,
    DerivedFrom,
    S3Settings,
    TransferProgress,
    TransferTuning,
    VersionInfo,
    make_s3_client,
    parse_storage_uri,
)
from modelship.artifacts.baseline import (
    Baseline,
    BaselineError,
    parse_baseline,
)
from modelship.artifacts.savedmodel import sample_baseline
from modelship.cli.termination import fail

F = TypeVar("F", bound=Callable[..., Any])


def _s3_options(command: F) -> F:
    """--endpoint, --region and --concurrency; credentials always come from boto3's chain."""
    command = click.option(
        "--concurrency",
        type=click.IntRange(1, 256),
        default=16,
        show_default=True,
        help="Parallel requests.",
    )(command)
    command = click.option(
        "--region", default=None, help="S3 region (default: AWS_REGION / boto3's chain)."
    )(command)
    command = click.option(
        "--endpoint",
        default=None,
        help="S3 endpoint URL for S3-compatible stores (default: AWS_ENDPOINT_URL).",
    )(command)
    return command


def _reports_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn ArtifactError (and local file errors) into `error: ...` and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except ArtifactError as err:
            _fail(err.reason, err.message)
        except OSError as err:
            where = f" ({err.filename})" if err.filename else ""
            _fail(LOCAL_FILE_ERROR, f"{err.strerror or err}{where}.")

    return wrapper


_fail = fail


def _store(uri: str, endpoint: str | None, region: str | None, concurrency: int) -> ArtifactStore:
    settings = S3Settings(endpoint=endpoint, region=region)
    return ArtifactStore(
        make_s3_client(settings, concurrency=concurrency),
        parse_storage_uri(uri),
        TransferTuning(concurrency=concurrency),
    )


class _ProgressBar:
    """A tqdm bar on stderr; transfers report from several threads, hence the lock."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar: Any = None
        self.lock = threading.Lock()

    def begin(self, total_bytes: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total_bytes,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=self.description,
            file=sys.stderr,
            leave=False,
        )

    def advance(self, nbytes: int) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.update(nbytes)

    def end(self) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.close()
                self.bar = None


def _progress(description: str) -> TransferProgress | None:
    """A bar for a person at a terminal; nothing in scripts, logs, or without tqdm."""
    if not sys.stderr.isatty():
        return None
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return None
    return _ProgressBar(description)


def _metrics_file(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    try:
        document = json.loads(path.read_text())
    except ValueError as err:
        raise ArtifactError(INVALID_METRICS, f"{path} is not valid JSON ({err}).") from None
    if not isinstance(document, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in document.values()
    ):
        raise ArtifactError(
            INVALID_METRICS,
            f'{path} must be a JSON object of metric name -> number, e.g. {{"accuracy": 0.97}}.',
        )
    return {str(k): float(v) for k, v in document.items()}


def _baseline_file(path: Path | None, model_dir: Path) -> Baseline | None:
    """The baseline `push --baseline` records: read as is from a baseline JSON, else made by
    running the model on the sample the file holds."""
    if path is None:
        return None
    if path.suffix == ".npz":
        import numpy as np

        with np.load(path, allow_pickle=False) as arrays:
            sample: Any = {name: arrays[name] for name in arrays.files}
        if list(sample) == ["arr_0"]:  # np.savez(path, array): one unnamed input
            sample = sample["arr_0"]
        return sample_baseline(model_dir, sample)
    try:
        document = json.loads(path.read_text())
    except ValueError as err:
        raise ArtifactError(INVALID_BASELINE, f"{path} is not valid JSON ({err}).") from None
    if isinstance(document, dict) and "features" in document:
        try:
            return parse_baseline(document)
        except BaselineError as err:
            raise ArtifactError(INVALID_BASELINE, f"{path}: {err}.") from None
    if not isinstance(document, list | dict):
        raise ArtifactError(
            INVALID_BASELINE,
            f"{path} must hold a list of rows, an object of input name -> rows, or a baseline.",
        )
    return sample_baseline(model_dir, document)


def _version_choice(
    ctx: click.Context, param: click.Parameter, value: str
) -> int | Literal["latest"]:
    if value == "latest":
        return "latest"
    if value.isdigit():
        return int(value)
    raise click.BadParameter(f"{value!r} is not a version number or 'latest'.")


def version_record(info: VersionInfo) -> dict[str, Any]:
    """A version as the JSON output shows it."""
    manifest = info.manifest
    return {
        "number": info.number,
        "state": info.state,
        "digest": info.digest,
        "size": info.size,
        "created": info.created,
        "metrics": info.metrics,
        "framework": manifest.framework if manifest else None,
        "framework_version": manifest.framework_version if manifest else None,
        "files": len(manifest.files) if manifest else None,
        "derived_from": _derived_from(manifest.derived_from) if manifest else None,
        "reason": info.reason,
        "message": info.message,
    }


def _derived_from(origin: DerivedFrom | None) -> dict[str, Any] | None:
    """An optimized version's source and method (`modelship optimize`), as in the manifest."""
    if origin is None:
        return None
    return {
        "version": origin.version,
        "method": origin.method,
        "digest": origin.digest,
        "source_metrics": dict(origin.source_metrics),
    }


def human_size(size: int) -> str:
    """1536 -> "1.5 KiB"."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def versions_table(versions: list[VersionInfo]) -> str:
    """The versions as an aligned table, each problem explained under its row."""
    header = ("VERSION", "STATE", "SIZE", "CREATED", "DIGEST", "METRICS")
    rows: list[tuple[str, ...]] = [header]
    notes: dict[int, str] = {}
    for info in versions:
        metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(info.metrics.items()))
        digest = info.digest[:19] if info.digest else "-"  # "sha256:" + 12 hex
        rows.append(
            (
                str(info.number),
                info.state,
                human_size(info.size),
                info.created or "-",
                digest,
                metrics or "-",
            )
        )
        if info.reason:
            notes[len(rows) - 1] = f"  {info.reason}: {info.message}"
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
        if index in notes:
            lines.append(notes[index])
    return "\n".join(lines)


@click.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("uri")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=0),
    default=None,
    help="Version number to publish (default: the highest existing + 1, starting at 1).",
)
@click.option(
    "--metrics",
    "metrics_file",
    type=click.Path(path_type=Path),
    default=None,
    help='JSON file of evaluation metrics, e.g. {"accuracy": 0.97}.',
)
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Sample of the training inputs for drift monitoring: an .npz of input name -> array "
    "(or one array), a JSON list of rows or object of input name -> rows, or a baseline "
    "JSON as modelship.json records it (an object with samples and features).",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_s3_options
@_reports_errors
def push(
    model_dir: Path,
    uri: str,
    version: int | None,
    metrics_file: Path | None,
    baseline_file: Path | None,
    output: str,
    endpoint: str | None,
    region: str | None,
    concurrency: int,
) -> None:
    """Publish the SavedModel in MODEL_DIR as a new version under URI (s3://bucket/prefix).

    The model is loaded and checked, its files uploaded in parallel, and the manifest
    modelship.json written last. An existing version is never overwritten.
    """
    metrics = _metrics_file(metrics_file)
    baseline = _baseline_file(baseline_file, model_dir)
    store = _store(uri, endpoint, region, concurrency)
    info = store.push(
        model_dir,
        version=version,
        metrics=metrics,
        progress=_progress("push"),
        baseline=baseline,
    )
    if output == "json":
        click.echo(json.dumps(version_record(info), indent=2))
    else:
        click.echo(f"published {store.uri} version {info.number} ({info.digest})")


@click.command()
@click.argument("uri")
@click.option(
    "--verify",
    is_flag=True,
    help="Download and hash every file (slow); default: check the listing only.",
)
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_s3_options
@_reports_errors
def versions(
    uri: str,
    verify: bool,
    output: str,
    endpoint: str | None,
    region: str | None,
    concurrency: int,
) -> None:
    """List every version under URI with its state: complete, incomplete or corrupt."""
    store = _store(uri, endpoint, region, concurrency)
    found = store.list_versions()
    if verify:
        found = [
            store.verify_version(info.number) if info.state == "complete" else info
            for info in found
        ]
    if output == "json":
        click.echo(json.dumps([version_record(info) for info in found], indent=2))
    elif not found:
        click.echo(f"no versions under {store.uri}", err=True)
    else:
        click.echo(versions_table(found))


@click.command()
@click.argument("uri")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--version",
    "version",
    required=True,
    metavar="N|latest",
    callback=_version_choice,
    help="The version to download; 'latest' = the newest complete one.",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_s3_options
@_reports_errors
def pull(
    uri: str,
    dest: Path,
    version: int | Literal["latest"],
    output: str,
    endpoint: str | None,
    region: str | None,
    concurrency: int,
) -> None:
    """Download one version under URI into DEST, verifying every file's sha256.

    DEST appears only once everything is verified; if it already holds that version,
    nothing is downloaded.
    """
    store = _store(uri, endpoint, region, concurrency)
    info = store.pull(version, dest, progress=_progress("pull"))
    if output == "json":
        click.echo(json.dumps({**version_record(info), "path": str(dest)}, indent=2))
    else:
        click.echo(f"{store.uri} version {info.number} ({info.digest}) is at {dest}")
