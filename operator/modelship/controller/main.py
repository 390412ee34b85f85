"""Starts kopf with modelship's settings: its bookkeeping under `modelship.io/` names, the
watches and caches of controller.cache, the handlers of controller.modeldeployment, the
`Operator` object they share (kopf's memo), leader election, metrics and the health endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import kopf
from aiohttp import web

from modelship.controller import metrics
from modelship.controller.cache import MANAGED, OWNED_KINDS
from modelship.controller.operator import Operator
from modelship.controller.settings import OperatorSettings

PREFIX = "modelship.io"
log = logging.getLogger("modelship.operator")


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf's memory of the last handled spec, for on.create/on.update handlers, which this
    operator has none of: its loops compare generations themselves. kopf still builds that
    memory (a deep copy of the whole object) for every watch event of every kind, which was a
    fifth of the event loop's time with 300 ModelDeployments converging; an empty one costs
    nothing and is never stored."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def configure_kopf(settings: kopf.OperatorSettings, operator: OperatorSettings) -> None:
    """kopf keeps its own state on the resource; these names keep it under our prefix."""
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = NoDiffBase()
    # kopf would otherwise post an Event for every handler run; ours are meaningful ones only.
    settings.posting.level = logging.WARNING
    # No cluster-wide scanning of CRDs and namespaces: the watched namespaces are given
    # explicitly (or all), so the chart's RBAC needs no access to either.
    settings.scanning.disabled = True
    # Each time a watch stream ends kopf lists its kind again (one LIST per watched kind, for
    # the whole operator): every 30 minutes rather than every 5 keeps an idle operator's reads
    # at 6 per half hour whatever the number of ModelDeployments. The client timeout still ends
    # a silently dead connection; an API server restart closes the streams at once.
    settings.watching.server_timeout = 1800
    settings.watching.client_timeout = 1830
    # The API server sends only the objects we made: without the selector every Deployment,
    # Service, pod and Job in the watched namespaces crossed the wire and was decoded, to be
    # dropped by the handlers' own `labels=` filter (kopf's, client-side).
    managed = ",".join(f"{key}={value}" for key, value in MANAGED.items())
    for group, version, plural in OWNED_KINDS:
        settings.watching.label_selectors[group, version, plural] = managed
    # A lost connection (an API server restart) is retried quickly, and the watches resume.
    settings.networking.error_backoffs = [1, 2, 5, 10, 30]
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    # Every replica watches and caches (a hot standby); the Lease decides who acts, so kopf's
    # own peering stays off.
    settings.peering.standalone = True


LAG_PROBE_SECONDS = 0.5


async def measure_loop_lag() -> None:
    """How late a timer fires: one loop runs every watch event, pass and wake-up, so a busy
    loop delays them all (modelship_event_loop_lag_seconds)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_PROBE_SECONDS
        await asyncio.sleep(LAG_PROBE_SECONDS)
        metrics.EVENT_LOOP_LAG.observe(max(0.0, loop.time() - due))


async def health_app(op: Operator) -> web.Application:
    """/healthz: the event loop answers. /readyz: the replica can act now or take over (the
    leader, or a standby in touch with the Lease)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if op.ready:
            return web.Response(text="leader" if op.leading else "standby")
        return web.Response(status=503, text="not ready: caches filling or Lease unreachable")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def run_operator(settings: OperatorSettings, op: Operator | None = None) -> None:
    from modelship.controller import cache, modeldeployment  # noqa: F401  (registers handlers)

    kopf.configure(
        verbose=False,
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
    )
    # kopf logs every handler run at INFO ("Handler 'owned_object_changed' succeeded."), one
    # line per watch event: 7,300 lines for 300 ModelDeployments created and rolled once. Its
    # warnings and errors still show; what the operator decided is logged by modelship.*.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    operator = op or Operator.build(settings)
    tasks: list[asyncio.Task[Any]] = []
    runners: list[web.AppRunner] = []

    @kopf.on.startup()
    async def _startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
        configure_kopf(settings, operator.settings)
        operator.cache.attach(kwargs)  # kopf's (still empty) indexes, filled by its watches
        metrics.serve_metrics(operator.settings.bind_address, operator.settings.metrics_port)
        if operator.settings.health_port:
            runner = web.AppRunner(await health_app(operator), access_log=None)
            await runner.setup()
            await web.TCPSite(
                runner, operator.settings.bind_address, operator.settings.health_port
            ).start()
            runners.append(runner)
        tasks.append(asyncio.create_task(measure_loop_lag(), name="event loop lag"))
        if operator.leader is not None:
            tasks.append(asyncio.create_task(operator.leader.run(), name="leader election"))
        else:
            metrics.LEADER.set(1)
        operator.started = True

    @kopf.on.cleanup()
    async def _cleanup(**_: Any) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await operator.stop()
        for runner in runners:
            await runner.cleanup()

    kopf.run(
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        standalone=True,
        memo=kopf.Memo(operator=operator),
    )
