"""The blocking call path shared by the synchronous clients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from ._transport import Attempts, Endpoint, Settings, Tls, endpoints


class Pool:
    """One channel per endpoint, a stub on each, and the retry loop."""

    def __init__(self, urls: str | Sequence[str], tls: Tls | None, settings: Settings, stub: Callable[[Any], Any]):
        self._channels = [_channel(e, tls) for e in endpoints(urls, tls)]
        self._attempts = Attempts(settings, [stub(c) for c in self._channels])

    def call(self, method: str, request: Any) -> Any:
        """``method`` on the next endpoint; ``UNAVAILABLE`` retried on the following ones
        while the deadline and the budget allow."""
        last = None
        for index, stub, remaining in self._attempts:
            try:
                return getattr(stub, method)(request, timeout=remaining, metadata=self._attempts.settings.metadata)
            except grpc.RpcError as error:
                last = self._attempts.failed(index, error)
        raise self._attempts.exhausted(last) from None

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


def _channel(endpoint: Endpoint, tls: Tls | None) -> grpc.Channel:
    if endpoint.secure:
        return grpc.secure_channel(endpoint.target, (tls or Tls()).credentials())
    return grpc.insecure_channel(endpoint.target)
