"""reconcile/ and api/ are pure at run time too: importing every one of their modules loads
nothing that talks to Kubernetes or S3 (import-linter checks the import statements; this
checks what Python really loads, package __init__ files included)."""

from __future__ import annotations

import json
import subprocess
import sys

LOADS_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import modelship.api, modelship.reconcile
for package in (modelship.api, modelship.reconcile):
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
print(json.dumps(sorted(sys.modules)))
"""
TALKS_TO_THE_WORLD = (
    "kopf",
    "kubernetes",
    "boto3",
    "botocore",
    "urllib3",
    "modelship.artifacts.s3",
    "modelship.artifacts.store",
    "modelship.artifacts.transfer",
    "modelship.artifacts.savedmodel",
    "modelship.controller",
    "modelship.dev",
    "modelship.cli",
    "modelship.serving",
    "modelship.training",
)


def test_importing_reconcile_and_api_loads_no_io_module() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADS_EVERY_MODULE],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ":".join(p for p in sys.path if p)},
    )
    loaded = json.loads(done.stdout)
    offending = [
        name
        for name in loaded
        for top in TALKS_TO_THE_WORLD
        if name == top or name.startswith(f"{top}.")
    ]
    assert offending == []
