"""The gRPC message types of TF Serving's API and of the Open Inference Protocol, built at
run time from `descriptors.binpb` (compiled from the .proto files here by regenerate.py).

They live in a descriptor pool of their own rather than protobuf's default one: clients of
the same protocols (tensorflow-serving-api, tritonclient) register the same message names in
the default pool, and a process that holds both (a test, a sidecar) would otherwise fail to
import with "duplicate symbol". The health and reflection protos are added to the pool too,
so server reflection can describe every service the server offers.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

DESCRIPTORS = Path(__file__).with_name("descriptors.binpb")

PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
INFERENCE_SERVICE = "inference.GRPCInferenceService"


@cache
def pool() -> descriptor_pool.DescriptorPool:
    """Our descriptors, plus grpc.health.v1's and server reflection's."""
    from grpc_health.v1 import health_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    built = descriptor_pool.DescriptorPool()
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    for file in files.file:
        built.Add(file)
    for module in (health_pb2, reflection_pb2):
        proto = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        built.Add(proto)
    return built


@cache
def message(full_name: str) -> Any:
    """The Python class of a message, e.g. message("tensorflow.serving.PredictRequest")."""
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(full_name))


def method_types(service: str, method: str) -> tuple[Any, Any]:
    """The request and response classes of one method of one of our services."""
    found = pool().FindServiceByName(service).FindMethodByName(method)
    return message(found.input_type.full_name), message(found.output_type.full_name)


class ReflectionPool:
    """The pool as server reflection sees it. Reflection clients may ask for the file of a
    method ("tensorflow.serving.PredictionService.Predict"), as ghz and `grpcurl describe`
    do; protobuf's pool finds services but not methods, so a method is looked up through its
    service."""

    def __init__(self, wrapped: descriptor_pool.DescriptorPool) -> None:
        self._wrapped = wrapped

    def FindFileContainingSymbol(self, symbol: str) -> Any:  # noqa: N802 - protobuf's name
        try:
            return self._wrapped.FindFileContainingSymbol(symbol)
        except KeyError:
            service, _, method = symbol.rpartition(".")
            try:
                found = self._wrapped.FindServiceByName(service)
            except KeyError:
                raise KeyError(f"Couldn't find symbol {symbol}") from None
            if method not in found.methods_by_name:
                raise KeyError(f"Couldn't find symbol {symbol}") from None
            return found.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)
