"""What can go wrong calling the services, by what the caller should do about it.

A denial of access is an answer (``Access.allowed`` is false), never an exception.
"""

from __future__ import annotations

import grpc


class CaixaError(Exception):
    """A call that got no usable answer. ``code`` is the gRPC status code, if one came."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class Unavailable(CaixaError):
    """No answer within the deadline, or the service is unreachable or overloaded:
    retry later, or apply the route's fail mode."""


class Unauthorized(CaixaError):
    """The service refused these credentials, or this caller may not call the method:
    fix the token, certificate or caller policy. Retrying will not help."""


class Rejected(CaixaError):
    """The request was refused as malformed or impossible (a user id or feature the
    service does not accept, a user without a customer): fix the request."""


class ConfigurationError(CaixaError):
    """A client that cannot be built as configured (an endpoint that is not a URL)."""


_UNAVAILABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.ABORTED,
}
_UNAUTHORIZED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def from_rpc_error(error: grpc.RpcError) -> CaixaError:
    """The exception for a failed call, classified as the Rust client classifies it."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    message = f"{code.name if code else 'UNKNOWN'}: {details}"
    if code in _UNAVAILABLE or code is None:
        return Unavailable(f"the service is unavailable: {message}", code)
    if code in _UNAUTHORIZED:
        return Unauthorized(f"the service refused the call: {message}", code)
    return Rejected(message, code)
