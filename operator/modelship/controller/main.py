"""Starts kopf with modelship's settings: its bookkeeping under `modelship.io/` names, the
handlers of controller.modeldeployment, metrics and a liveness endpoint."""

from __future__ import annotations

import logging
import random
from typing import Any

import kopf

from modelship.controller import metrics
from modelship.controller.settings import OperatorSettings

PREFIX = "modelship.io"


def configure_kopf(settings: kopf.OperatorSettings, operator: OperatorSettings) -> None:
    """kopf keeps its own state on the resource; these names keep it under our prefix."""
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    # kopf would otherwise post an Event for every handler run; ours are meaningful ones only.
    settings.posting.level = logging.WARNING
    # No cluster-wide scanning of CRDs and namespaces: the watched namespaces are given
    # explicitly (or all), so the chart's RBAC needs no access to either.
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.error_backoffs = [1, 2, 5, 10, 30]
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    if operator.peering:
        settings.peering.name = operator.peering
        settings.peering.mandatory = True
        # kopf pauses every peer that shares the highest priority, so equal priorities would
        # leave all replicas idle: a random one makes exactly one replica active.
        settings.peering.priority = random.randint(1, 2**31 - 1)
        settings.peering.standalone = False
    else:
        settings.peering.standalone = True


def run_operator(operator: OperatorSettings) -> None:
    from modelship.controller import modeldeployment

    kopf.configure(
        verbose=False,
        log_format=kopf.LogFormat.JSON if operator.log_format == "json" else kopf.LogFormat.FULL,
    )
    modeldeployment.OPERATOR = operator

    @kopf.on.startup()
    def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings, operator)
        metrics.serve_metrics(operator.bind_address, operator.metrics_port)

    liveness = (
        f"http://{operator.bind_address}:{operator.health_port}/healthz"
        if operator.health_port
        else None
    )
    kopf.run(
        clusterwide=not operator.namespaces,
        namespaces=list(operator.namespaces),
        standalone=operator.peering is None,
        peering_name=operator.peering,
        liveness_endpoint=liveness,
    )
