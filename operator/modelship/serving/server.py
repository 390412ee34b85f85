"""The HTTP server: routes, the model's life (wait, load, warm up, serve, drain) and shutdown.
The gRPC services (grpc_server) run beside it in the same event loop and go through the same
checks, batching queue and metrics.

It listens first and loads second, so the pod's probes get answers at once: live is 200
from the start, ready only once the model is loaded and warmed up. On SIGTERM ready turns
false (gRPC health: NOT_SERVING), the listeners close, queued batches run without waiting to
fill, in-flight requests and calls are answered, and `run` returns 0. All model work
happens on one thread, off the event loop, so health checks and metrics stay quick while
the model is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from modelship.api.reasons import ADDRESS_IN_USE, MODEL_LOAD_FAILED
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.manifest import MANIFEST_NAME, Manifest
from modelship.artifacts.savedmodel import SERVING_SIGNATURE
from modelship.serving import inference_v2, tfserving_api
from modelship.serving.batching import Arrays, Batcher
from modelship.serving.capture import CaptureConfig, CaptureSampler, CaptureWriter
from modelship.serving.drift import DriftMonitor, no_baseline_summary
from modelship.serving.errors import (
    BadRequestError,
    BodyTooLargeError,
    NotFoundError,
    ServingError,
    UnavailableError,
)
from modelship.serving.logs import AccessLog
from modelship.serving.metrics import CONTENT_TYPE, ServingMetrics
from modelship.serving.model import ServedModel, load_model, serialize_examples
from modelship.serving.model_path import ModelPathError, ModelVersionPath, find_model_version
from modelship.serving.tfserving_api import AVAILABLE, LOADING, UNLOADING

if TYPE_CHECKING:
    from modelship.serving.grpc_server import GrpcFrontend

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
_MODEL_APIS = ("/v1/models/", "/v2/models/")


@dataclass(frozen=True)
class ServerConfig:
    """What `modelship serve` was asked to do."""

    model_name: str
    model_base_path: Path
    host: str = "0.0.0.0"
    port: int = 8501
    grpc_port: int | None = 8500  # None: no gRPC
    rest_apis: bool = True  # False: HTTP answers health and /metrics only
    max_batch_size: int = 32
    batch_timeout_micros: int = 2000
    batch_wait_when_idle: bool = False  # wait the timeout even with no other request coming
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    shutdown_timeout: float = 25.0  # seconds in-flight requests get after SIGTERM
    poll_interval: float = 1.0  # seconds between looks for a first version folder
    access_log_rate: float = 0.0  # share of model requests written to the access log
    capture: CaptureConfig | None = None  # request capture to S3 (None: off)
    drift_slice_seconds: int = 300  # the resolution of the drift monitoring's windows


class ServeError(Exception):
    """The server cannot go on; `reason` is a CamelCase word, `message` a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


JSON_TYPE = "application/json"


def json_response(document: Any, status: int = 200) -> web.Response:
    """A JSON answer whose Content-Type is exactly `application/json`: aiohttp's own helper
    appends `; charset=utf-8`, and clients that compare the type as a string (KServe's
    Python client) then drop the error message. JSON is UTF-8 by definition (RFC 8259)."""
    return web.Response(
        body=json.dumps(document).encode(), status=status, headers={"Content-Type": JSON_TYPE}
    )


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    """TF Serving's error body: {"error": "<message>"}."""
    return json_response({"error": message, **extra}, status=status)


class ModelServer:
    """One model behind the TF Serving REST API and the Open Inference Protocol."""

    def __init__(
        self,
        config: ServerConfig,
        load: Callable[[str, ModelVersionPath], ServedModel] = load_model,
    ) -> None:
        self.config = config
        self.metrics = ServingMetrics(config.model_name)
        self.access_log = AccessLog(config.access_log_rate)
        self._load = load
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.batcher = Batcher(
            self._run_model,
            self._executor,
            max_batch_size=config.max_batch_size,
            batch_timeout=config.batch_timeout_micros / 1e6,
            observe_batch=lambda signature, rows: self.metrics.observe_batch(
                str(self.version), signature, rows
            ),
            wait_when_idle=config.batch_wait_when_idle,
            observe_wait=lambda signature, seconds: self.metrics.observe_queue_wait(
                str(self.version), signature, seconds
            ),
        )
        self.capture: CaptureSampler | None = None
        self._capture_writer: CaptureWriter | None = None
        if config.capture is not None:
            self.capture = CaptureSampler(
                config.capture, config.model_name, self.metrics, clock=time.monotonic
            )
            self.batcher.observe_result = self._capture
        self.model: ServedModel | None = None
        self.version: int | None = None
        self.state = "waiting"
        self.ready = False
        self.failure: ServeError | None = None
        self._stopping: asyncio.Event | None = None
        self._cut_off = 0  # requests whose handlers were cancelled before answering
        self.grpc: GrpcFrontend | None = None
        self.drift: DriftMonitor | None = None  # when the version's manifest has a baseline

    # -- life ---------------------------------------------------------------------------

    async def run(
        self,
        on_listening: Callable[[str, int], None] | None = None,
        on_grpc_listening: Callable[[str, int], None] | None = None,
    ) -> int:
        """Serve until SIGTERM/SIGINT (exit code 0) or until the model fails to load (1)."""
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        runner = web.AppRunner(
            self.app(),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=self.config.shutdown_timeout,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise ServeError(
                ADDRESS_IN_USE,
                f"cannot listen on {self.config.host}:{self.config.port}: {err.strerror}.",
            ) from None
        host, port = runner.addresses[0][:2]
        if on_listening is not None:
            on_listening(host, port)
        if self.config.grpc_port is not None:
            await self._start_grpc(runner, on_grpc_listening)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.begin_shutdown)
        self._start_capture()
        loader = loop.create_task(self._load_model(), name="load model")
        try:
            await self._stopping.wait()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            loader.cancel()
            try:
                # Closes the listeners, then waits (up to shutdown_timeout) for in-flight
                # requests and calls.
                stopping = [runner.cleanup()]
                if self.grpc is not None:
                    stopping.append(self.grpc.stop(self.config.shutdown_timeout))
                await asyncio.gather(*stopping)
                await self.batcher.close()
                if self._capture_writer is not None:
                    await self._capture_writer.stop()  # writes what is still queued
            except Exception:
                # A failing cleanup must not hide why the server stopped (self.failure).
                log.exception("error while shutting down")
            self._executor.shutdown(wait=False, cancel_futures=True)
            if self.drift is not None:
                self.drift.close()
        if self.failure is not None:
            raise self.failure
        if self._cut_off:
            log.warning(
                "stopped; %d request(s) were cut off before they were answered "
                "(a client went away, or --shutdown-timeout ran out)",
                self._cut_off,
            )
        else:
            log.info("stopped; every in-flight request was answered")
        return 0

    async def _start_grpc(
        self, runner: web.AppRunner, on_listening: Callable[[str, int], None] | None
    ) -> None:
        from modelship.serving.grpc_server import GrpcFrontend

        assert self.config.grpc_port is not None
        self.grpc = GrpcFrontend(self)
        try:
            port = await self.grpc.start(self.config.host, self.config.grpc_port)
        except (OSError, RuntimeError) as err:
            await runner.cleanup()
            raise ServeError(
                ADDRESS_IN_USE,
                f"cannot listen for gRPC on {self.config.host}:{self.config.grpc_port}: "
                f"{str(err).rstrip('.')}.",
            ) from None
        if on_listening is not None:
            on_listening(self.config.host, port)

    def _start_capture(self) -> None:
        if self.capture is None:
            return
        from modelship.artifacts import parse_storage_uri
        from modelship.artifacts.capture import CaptureStore

        config = self.capture.config
        store = CaptureStore(
            parse_storage_uri(config.storage_uri), sse=config.sse, kms_key_id=config.kms_key_id
        )
        self._capture_writer = CaptureWriter(self.capture, store, clock=time.monotonic)
        self._capture_writer.start()

    def _capture(self, signature: str, inputs: Arrays, outputs: Arrays) -> None:
        if self.capture is not None and self.version is not None:
            self.capture.offer(self.version, signature, inputs, outputs)

    def note_cut_off(self) -> None:
        """A request or call was cancelled before it was answered."""
        self._cut_off += 1

    def begin_shutdown(self) -> None:
        """SIGTERM: not ready any more, flush the batch queues, and stop."""
        if self._stopping is None or self._stopping.is_set():
            return
        log.info("shutting down: no new requests, finishing the ones in flight")
        self.ready = False
        if self.model is not None:
            self.state = UNLOADING
            self.metrics.ready.labels(self.config.model_name, str(self.version)).set(0)
        self.batcher.drain()
        if self.grpc is not None:
            asyncio.get_running_loop().create_task(self.grpc.begin_shutdown())
        self._stopping.set()

    async def _load_model(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._stopping is not None
        try:
            where = await self._wait_for_version()
            if where is None:
                return
            self.version, self.state = where.version, LOADING
            log.info(
                "loading model '%s' version %d from %s",
                self.config.model_name,
                where.version,
                where.path,
            )
            started = time.monotonic()
            model = await loop.run_in_executor(self._executor, self._load_and_warm, where)
            seconds = time.monotonic() - started
        except (ModelPathError, ServeError) as err:
            self.failure = ServeError(err.reason, err.message)
        except Exception as err:
            reason = getattr(err, "reason", MODEL_LOAD_FAILED)
            self.failure = ServeError(reason, getattr(err, "message", str(err)))
        else:
            self.model = model
            self.drift = self._drift_monitor(where)
            if self._stopping.is_set():
                return
            self.state, self.ready = AVAILABLE, True
            labels = (self.config.model_name, str(self.version))
            self.metrics.ready.labels(*labels).set(1)
            self.metrics.load_seconds.labels(*labels).set(seconds)
            if self.grpc is not None:
                await self.grpc.set_serving()
            log.info(
                "model '%s' version %d is ready (loaded and warmed up in %.1fs)",
                self.config.model_name,
                self.version,
                seconds,
            )
            return
        log.error("%s", self.failure)
        self._stopping.set()

    async def _wait_for_version(self) -> ModelVersionPath | None:
        assert self._stopping is not None
        base = self.config.model_base_path
        said = False
        while not self._stopping.is_set():
            where = find_model_version(base)
            if where is not None:
                return where
            if not said:
                log.info(
                    "no version folder under %s yet; looking every %.0fs",
                    base,
                    self.config.poll_interval,
                )
                said = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.config.poll_interval)
        return None

    def _load_and_warm(self, where: ModelVersionPath) -> ServedModel:
        model = self._load(self.config.model_name, where)
        warmed = model.warm_up()
        log.info("warmed up signatures: %s", ", ".join(warmed) or "none (they take strings)")
        return model

    def _run_model(self, signature: str, inputs: Arrays) -> Arrays:
        assert self.model is not None  # batches are only submitted once it is loaded
        outputs = self.model.run(signature, inputs)
        if self.drift is not None and signature == SERVING_SIGNATURE:
            self.drift.submit(inputs, outputs)  # a queue put: counted on another thread
        return outputs

    def _drift_monitor(self, where: ModelVersionPath) -> DriftMonitor | None:
        """Counts of live traffic in the bins of the version's baseline, when it has one."""
        path = where.path / MANIFEST_NAME
        try:
            baseline = Manifest.from_json(path.read_bytes()).baseline
        except FileNotFoundError:
            return None
        except (OSError, ArtifactError) as err:
            log.warning("no drift monitoring: %s cannot be read: %s", path, err)
            return None
        if baseline is None:
            return None
        monitor = DriftMonitor(baseline, slice_seconds=self.config.drift_slice_seconds)
        self.metrics.watch_drift(monitor, str(where.version))
        log.info("drift monitoring: %d features of the baseline", len(baseline.features))
        return monitor

    # -- HTTP ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.config.max_body_bytes, middlewares=[self._middleware]
        )
        # Health and metrics answer whatever the protocols: the kubelet and Prometheus use them.
        app.router.add_get("/v2/health/live", self.v2_live)
        app.router.add_get("/v2/health/ready", self.v2_ready)
        app.router.add_get("/metrics", self.prometheus)
        if not self.config.rest_apis:
            return app
        app.router.add_get(r"/v1/models/{name}/monitoring", self.v1_monitoring)
        app.router.add_get("/v1/models/{tail:.+}", self.v1_get)
        app.router.add_post("/v1/models/{tail:.+}", self.v1_post)
        app.router.add_get("/v2", self.v2_server)
        for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
            app.router.add_get(prefix, self.v2_metadata)
            app.router.add_get(prefix + "/ready", self.v2_model_ready)
            app.router.add_post(prefix + "/infer", self.v2_infer)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        measured = request.path.startswith(_MODEL_APIS)
        if not measured:
            return await self._answer(request, handler)
        gauge = self.metrics.in_flight.labels(self.config.model_name)
        gauge.inc()
        started = time.perf_counter()
        # A POST to a model API is a request on its way to the batcher: batches wait for it.
        announce = self.batcher.expecting() if request.method == "POST" else nullcontext()
        try:
            with announce:
                response = await self._answer(request, handler)
        except asyncio.CancelledError:
            # The client went away, or shutdown_timeout ran out while this was in flight.
            self._cut_off += 1
            raise
        finally:
            gauge.dec()
        seconds = time.perf_counter() - started
        self.metrics.observe_request(
            version=request.get("version", ""),
            api=request.get("api", "unknown"),
            code=response.status,
            seconds=seconds,
            model=request.get("model", "unknown"),
            protocol="rest",
        )
        self.access_log.record("rest", request.method, request.path, response.status, seconds)
        return response

    async def _answer(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ServingError as err:
            return error_response(err.status, err.message)
        except RecursionError:
            # json.loads and the tensor parsers recurse once per nesting level: a body of
            # thousands of `[` is bad input, not a server fault.
            return error_response(
                400, "the request body nests lists or objects too deeply to be a tensor"
            )
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, self._too_large_message())
        except web.HTTPMethodNotAllowed as err:
            allowed = ", ".join(sorted(err.allowed_methods))
            return error_response(405, f"{request.path} answers {allowed}, not {request.method}")
        except web.HTTPException as err:
            if err.status < 400:
                raise
            if err.status == 404:
                return error_response(404, f"no such route: {request.path}")
            return error_response(err.status, err.reason)
        except Exception as err:
            log.exception("%s %s failed", request.method, request.path)
            return error_response(500, f"internal error: {err}")

    def _too_large_message(self) -> str:
        return (
            f"the request body is larger than the limit of {self.config.max_body_bytes} bytes "
            "(modelship serve --max-body-bytes)"
        )

    async def _json_body(self, request: web.Request) -> Any:
        return self._parse_json(await self._read_body(request))

    @staticmethod
    def _parse_json(raw: bytes) -> Any:
        if not raw.strip():
            raise BadRequestError("the request body is empty; send a JSON object")
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError) as err:
            raise BadRequestError(f"the request body is not valid JSON: {err}") from None

    async def _read_body(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.config.max_body_bytes:
            raise BodyTooLargeError(self._too_large_message())
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise BodyTooLargeError(self._too_large_message()) from None
        # aiohttp has already inflated a gzip or deflate body (as tritonclient sends with
        # request_compression_algorithm), counting the inflated bytes against the limit.
        return raw

    def check_model(
        self,
        request: web.Request | MutableMapping[str, Any],
        name: str,
        version: int | str | None,
    ) -> None:
        """404 unless `name` (and `version`, when given) is what this server serves; notes
        the model and version in `request` (an aiohttp request, or a gRPC call's labels)
        for the metrics."""
        if name != self.config.model_name:
            raise NotFoundError(
                f"model '{name}' is not served here; this server serves '{self.config.model_name}'"
            )
        request["model"] = name
        if self.version is None:
            raise NotFoundError(
                f"model '{name}' has no version yet: no version folder under "
                f"{self.config.model_base_path}"
            )
        request["version"] = str(self.version)
        if version is not None:
            if isinstance(version, str) and not version.isdigit():
                raise BadRequestError(f"version '{version}' is not a number")
            if int(version) != self.version:
                raise NotFoundError(
                    f"model '{name}' has no version {version}; version {self.version} is served"
                )

    def serving_model(self) -> ServedModel:
        """The loaded model, or 503 while it is loading or the server is stopping."""
        if self._stopping is not None and self._stopping.is_set():
            raise UnavailableError("the server is shutting down")
        if not self.ready or self.model is None:
            raise UnavailableError(
                f"model '{self.config.model_name}' version {self.version} is "
                f"{self.state.lower()}, not available yet"
            )
        return self.model

    # -- TF Serving REST ----------------------------------------------------------------

    async def v1_get(self, request: web.Request) -> web.Response:
        route = tfserving_api.parse_v1_path(request.match_info["tail"], request.method)
        request["api"] = route.verb
        self.check_model(request, route.model, route.version)
        if route.verb == "status":
            return json_response(tfserving_api.version_status(self.version, self.state))
        model = self.serving_model()
        return json_response(tfserving_api.model_metadata(model.info))

    async def v1_monitoring(self, request: web.Request) -> web.Response:
        """The drift counts of the served version (`?window=SECONDS`, default: all kept)."""
        request["api"] = "monitoring"
        self.check_model(request, request.match_info["name"], None)
        raw = request.query.get("window")
        window = None
        if raw is not None:
            if not raw.isdigit() or int(raw) == 0:
                raise BadRequestError(f"window={raw!r} is not a number of seconds above 0")
            window = int(raw)
        if self.drift is None:
            return json_response(no_baseline_summary(self.config.model_name, self.version))
        assert self.version is not None
        return json_response(self.drift.summary(self.config.model_name, self.version, window))

    async def v1_post(self, request: web.Request) -> web.Response:
        route = tfserving_api.parse_v1_path(request.match_info["tail"], request.method)
        request["api"] = route.verb
        self.check_model(request, route.model, route.version)
        model = self.serving_model()
        body = await self._json_body(request)
        if route.verb == "predict":
            predict = tfserving_api.parse_predict_request(body, model.info)
            outputs = await self.batcher.submit(predict.signature.key, predict.inputs, predict.rows)
            return json_response(tfserving_api.predict_response(predict, outputs))
        examples = tfserving_api.parse_examples_request(body, model.info, route.verb)
        spec = tfserving_api.examples_input(examples.signature)
        inputs = {spec.key: serialize_examples(examples.examples)}
        rows = tfserving_api.batch_rows(examples.signature, inputs)
        outputs = await self.batcher.submit(examples.signature.key, inputs, rows)
        count = len(examples.examples)
        if route.verb == "classify":
            return json_response(tfserving_api.classify_response(outputs, count))
        return json_response(tfserving_api.regress_response(outputs, count))

    # -- Open Inference Protocol (v2) ---------------------------------------------------

    async def v2_server(self, request: web.Request) -> web.Response:
        try:
            version = package_metadata.version("modelship")
        except package_metadata.PackageNotFoundError:
            version = "unknown"
        return json_response(inference_v2.server_metadata(version))

    async def v2_live(self, request: web.Request) -> web.Response:
        return json_response({"live": True})

    async def v2_ready(self, request: web.Request) -> web.Response:
        if self.ready:
            return json_response({"ready": True})
        return error_response(503, self._not_ready_message(), ready=False)

    def _not_ready_message(self) -> str:
        if self.failure is not None:
            return str(self.failure)
        if self._stopping is not None and self._stopping.is_set():
            return "the server is shutting down"
        if self.version is None:
            return f"waiting for a version folder under {self.config.model_base_path}"
        return f"model '{self.config.model_name}' version {self.version} is loading"

    async def v2_metadata(self, request: web.Request) -> web.Response:
        request["api"] = "metadata_v2"
        self.check_model(request, request.match_info["name"], request.match_info.get("version"))
        model = self.serving_model()
        signature = model.info.signature(None)
        return json_response(inference_v2.model_metadata(model.info, signature))

    async def v2_model_ready(self, request: web.Request) -> web.Response:
        request["api"] = "ready_v2"
        name = request.match_info["name"]
        self.check_model(request, name, request.match_info.get("version"))
        if self.ready:
            return json_response({"name": name, "ready": True})
        return error_response(503, self._not_ready_message(), name=name, ready=False)

    async def v2_infer(self, request: web.Request) -> web.Response:
        request["api"] = "infer"
        self.check_model(request, request.match_info["name"], request.match_info.get("version"))
        model = self.serving_model()
        header, binary = inference_v2.split_binary_body(
            await self._read_body(request), request.headers.get(inference_v2.HEADER_LENGTH)
        )
        infer = inference_v2.parse_infer_request(self._parse_json(header), model.info, binary)
        outputs = await self.batcher.submit(infer.signature.key, infer.inputs, infer.rows)
        answer = inference_v2.infer_response(infer, model.info, outputs)
        document = json.dumps(answer.document).encode()
        if not answer.binary:
            return web.Response(body=document, headers={"Content-Type": JSON_TYPE})
        return web.Response(
            body=document + answer.binary,
            headers={
                "Content-Type": "application/octet-stream",
                inference_v2.HEADER_LENGTH: str(len(document)),
            },
        )

    # -- Prometheus ---------------------------------------------------------------------

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
