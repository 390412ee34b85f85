"""The errors a request can end in, each with the HTTP status and the gRPC status code it is
answered with.

The server answers them as TensorFlow Serving does: `{"error": "<message>"}`, so the message
must name the problem (which input, which shape, which limit) in words a caller can act on.
"""

from __future__ import annotations


class ServingError(Exception):
    """A request that cannot be answered; `status` is the HTTP status to send."""

    status = 500
    grpc_code = "INTERNAL"  # a grpc.StatusCode name

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ServingError):
    """The request is malformed or does not fit the model's signature."""

    status = 400
    grpc_code = "INVALID_ARGUMENT"


class NotFoundError(ServingError):
    """No such model, version, signature or route."""

    status = 404
    grpc_code = "NOT_FOUND"


class MethodNotAllowedError(ServingError):
    """The route exists but not for this HTTP method."""

    status = 405
    grpc_code = "UNIMPLEMENTED"


class BodyTooLargeError(ServingError):
    """The request body is over --max-body-bytes."""

    status = 413
    grpc_code = "RESOURCE_EXHAUSTED"


class UnavailableError(ServingError):
    """The model is not loaded yet, or the server is shutting down."""

    status = 503
    grpc_code = "UNAVAILABLE"


class ModelError(ServingError):
    """The model raised while running a well-formed request."""

    status = 500
