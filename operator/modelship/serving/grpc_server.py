"""The gRPC side of `modelship serve` (port 8500): TF Serving's PredictionService and
ModelService, the Open Inference Protocol's GRPCInferenceService, grpc.health.v1 and server
reflection, on a grpc.aio server in the same event loop as the REST server.

It adds no model logic: every call goes through the ModelServer's own checks (model, version,
readiness, draining), its one batching queue and its metrics (labelled protocol="grpc").
Requests arrive as bytes and are parsed here, so a body that is not the message it claims
to be is INVALID_ARGUMENT with a sentence, not an opaque INTERNAL from the framework.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import metadata as package_metadata
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from modelship.serving import grpc_api, protos
from modelship.serving.errors import BadRequestError, NotFoundError, ServingError
from modelship.serving.tfserving_api import batch_rows, examples_input, examples_signature

if TYPE_CHECKING:
    from modelship.serving.server import ModelServer

log = logging.getLogger(__name__)

Labels = MutableMapping[str, Any]
Method = Callable[[Any, Labels], Awaitable[Any]]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
OUR_SERVICES = (protos.PREDICTION_SERVICE, protos.MODEL_SERVICE, protos.INFERENCE_SERVICE)


class GrpcFrontend:
    """The gRPC services of one ModelServer."""

    def __init__(self, server: ModelServer) -> None:
        self.server = server
        self.health = HealthServicer()
        self._grpc: grpc.aio.Server | None = None

    # -- life -----------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: any free port); returns the port."""
        limit = self.server.config.max_body_bytes
        self._grpc = grpc.aio.server(
            options=[
                # Over the limit, gRPC itself answers RESOURCE_EXHAUSTED.
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", -1),
                # gRPC shares a busy port by default (SO_REUSEPORT): a second server on the
                # same port would then take half the calls instead of failing to start.
                ("grpc.so_reuseport", 0),
            ]
        )
        self._grpc.add_generic_rpc_handlers(self._handlers())
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        reflection.enable_server_reflection(
            [*OUR_SERVICES, "grpc.health.v1.Health", reflection.SERVICE_NAME],
            self._grpc,
            pool=protos.ReflectionPool(protos.pool()),
        )
        for service in ("", *OUR_SERVICES):
            await self.health.set(service, NOT_SERVING)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 literal
        bound = self._grpc.add_insecure_port(address)
        if bound == 0:
            raise OSError(f"cannot listen for gRPC on {host}:{port}")
        await self._grpc.start()
        return bound

    async def set_serving(self) -> None:
        """The model is loaded: health checks answer SERVING."""
        for service in ("", *OUR_SERVICES):
            await self.health.set(service, SERVING)

    async def begin_shutdown(self) -> None:
        """SIGTERM: health answers NOT_SERVING from now on (the calls themselves get
        UNAVAILABLE from the server's own check)."""
        await self.health.enter_graceful_shutdown()

    async def stop(self, grace: float) -> None:
        """Refuse new calls and give the ones in flight `grace` seconds."""
        if self._grpc is not None:
            await self._grpc.stop(grace)

    # -- wiring ---------------------------------------------------------------------------

    def _handlers(self) -> list[grpc.GenericRpcHandler]:
        services: dict[str, dict[str, tuple[Method, bool]]] = {
            protos.PREDICTION_SERVICE: {
                "Predict": (self.predict, True),
                "GetModelMetadata": (self.get_model_metadata, True),
                "Classify": (self.classify, True),
                "Regress": (self.regress, True),
            },
            protos.MODEL_SERVICE: {"GetModelStatus": (self.get_model_status, True)},
            protos.INFERENCE_SERVICE: {
                "ServerLive": (self.server_live, False),
                "ServerReady": (self.server_ready, False),
                "ServerMetadata": (self.server_metadata, False),
                "ModelReady": (self.model_ready, True),
                "ModelMetadata": (self.model_metadata, True),
                "ModelInfer": (self.model_infer, True),
            },
        }
        handlers = []
        for service, methods in services.items():
            table = {
                name: grpc.unary_unary_rpc_method_handler(
                    self._unary(service, name, method, measured),
                    response_serializer=_serialize,
                )
                for name, (method, measured) in methods.items()
            }
            handlers.append(grpc.method_handlers_generic_handler(service, table))
        return handlers

    def _unary(
        self, service: str, name: str, method: Method, measured: bool
    ) -> Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        request_type, _ = protos.method_types(service, name)
        api = name[0].lower() + "".join(f"_{c.lower()}" if c.isupper() else c for c in name[1:])
        server = self.server
        # Calls that run the model: batches wait for them from the moment they arrive.
        batched = name in ("Predict", "Classify", "Regress", "ModelInfer")

        async def handle(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if not batched:
                return await answer(raw, context)
            with server.batcher.expecting():
                return await answer(raw, context)

        async def answer(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            labels: dict[str, Any] = {"api": api}
            gauge = server.metrics.in_flight.labels(server.config.model_name)
            if measured:
                gauge.inc()
            started = time.perf_counter()
            code = "OK"
            try:
                try:
                    request = request_type.FromString(raw)
                except DecodeError as err:
                    raise BadRequestError(
                        f"the request is not a valid {request_type.DESCRIPTOR.full_name}: {err}"
                    ) from None
                return await method(request, labels)
            except ServingError as err:
                code = err.grpc_code
                await context.abort(grpc.StatusCode[code], err.message)
            except asyncio.CancelledError:
                code = "CANCELLED"
                server.note_cut_off()
                raise
            except Exception as err:
                if isinstance(err, grpc.aio.AbortError):
                    raise
                log.exception("gRPC %s/%s failed", service, name)
                code = "INTERNAL"
                await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {err}")
            finally:
                if measured:
                    seconds = time.perf_counter() - started
                    gauge.dec()
                    server.metrics.observe_request(
                        version=labels.get("version", ""),
                        api=api,
                        code=code,
                        seconds=seconds,
                        model=labels.get("model", "unknown"),
                        protocol="grpc",
                    )
                    server.access_log.record("grpc", "POST", f"/{service}/{name}", code, seconds)

        return handle

    def _model_spec(self, spec: Any, labels: Labels) -> None:
        """NotFoundError unless the ModelSpec names what this server serves."""
        choice = spec.WhichOneof("version_choice")
        if choice == "version_label":
            self.server.check_model(labels, spec.name, None)
            raise NotFoundError(
                f"version label '{spec.version_label}' is not defined here; address the "
                "version by number (model_spec.version) or leave it out"
            )
        version = int(spec.version.value) if choice == "version" else None
        self.server.check_model(labels, spec.name, version)

    # -- TF Serving -------------------------------------------------------------------------

    async def predict(self, request: Any, labels: Labels) -> Any:
        self._model_spec(request.model_spec, labels)
        model = self.server.serving_model()
        signature, inputs, rows = grpc_api.parse_predict(request, model.info)
        outputs = await self.server.batcher.submit(signature.key, inputs, rows)
        return grpc_api.predict_response(request, model.info, signature, outputs)

    async def get_model_metadata(self, request: Any, labels: Labels) -> Any:
        self._model_spec(request.model_spec, labels)
        return grpc_api.metadata_response(request, self.server.serving_model().info)

    async def classify(self, request: Any, labels: Labels) -> Any:
        return await self._examples(request, labels, "classify")

    async def regress(self, request: Any, labels: Labels) -> Any:
        return await self._examples(request, labels, "regress")

    async def _examples(self, request: Any, labels: Labels, verb: str) -> Any:
        self._model_spec(request.model_spec, labels)
        model = self.server.serving_model()
        signature = examples_signature(model.info, verb, request.model_spec.signature_name or None)
        examples = grpc_api.serialized_examples(request, verb)
        spec = examples_input(signature)
        inputs = {spec.key: serialize_examples_bytes(examples)}
        rows = batch_rows(signature, inputs)
        outputs = await self.server.batcher.submit(signature.key, inputs, rows)
        answer = grpc_api.classify_response if verb == "classify" else grpc_api.regress_response
        return answer(outputs, len(examples), model.info, signature.key)

    async def get_model_status(self, request: Any, labels: Labels) -> Any:
        self._model_spec(request.model_spec, labels)
        return grpc_api.status_response(self.server.version, self.server.state)

    # -- Open Inference Protocol -------------------------------------------------------------

    async def server_live(self, request: Any, labels: Labels) -> Any:
        return protos.message("inference.ServerLiveResponse")(live=True)

    async def server_ready(self, request: Any, labels: Labels) -> Any:
        return protos.message("inference.ServerReadyResponse")(ready=self.server.ready)

    async def server_metadata(self, request: Any, labels: Labels) -> Any:
        try:
            version = package_metadata.version("modelship")
        except package_metadata.PackageNotFoundError:
            version = "unknown"
        return grpc_api.server_metadata_response(version)

    async def model_ready(self, request: Any, labels: Labels) -> Any:
        self.server.check_model(labels, request.name, request.version or None)
        return protos.message("inference.ModelReadyResponse")(ready=self.server.ready)

    async def model_metadata(self, request: Any, labels: Labels) -> Any:
        self.server.check_model(labels, request.name, request.version or None)
        return grpc_api.model_metadata_response(self.server.serving_model().info)

    async def model_infer(self, request: Any, labels: Labels) -> Any:
        self.server.check_model(labels, request.model_name, request.model_version or None)
        model = self.server.serving_model()
        infer, raw = grpc_api.parse_model_infer(request, model.info)
        outputs = await self.server.batcher.submit(infer.signature.key, infer.inputs, infer.rows)
        return grpc_api.model_infer_response(infer, model.info, outputs, raw)


def _serialize(response: Any) -> bytes:
    data: bytes = response.SerializeToString()
    return data


def serialize_examples_bytes(examples: list[bytes]) -> np.ndarray[Any, Any]:
    """Serialized examples as the string tensor a classify/regress signature takes."""
    array = np.empty(len(examples), dtype=object)
    array[:] = examples
    return array
