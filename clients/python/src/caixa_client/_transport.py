"""How a client reaches the services: endpoints, credentials, the deadline of each call
and a retry budget, as the Rust client does them.

- A call has one deadline (default 0.5 s), retries included, sent as ``grpc-timeout``
  so the service drops work nobody waits for.
- Only ``UNAVAILABLE`` is retried, on the next endpoint, within a budget: each call adds
  ``retry_ratio`` of a retry (0.1: at most ~10 % extra load), and one a second accrues
  besides, so a struggling service is not buried under retries.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from .errors import CaixaError, ConfigurationError, Unavailable, from_rpc_error

#: Default deadline of an entitlement call, in seconds.
DEFAULT_DEADLINE = 0.5


@dataclass(frozen=True)
class Tls:
    """TLS to the services: a CA to trust (None: the system's) and, for mutual TLS, the
    client's certificate chain and key, all PEM bytes."""

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)


@dataclass(frozen=True)
class Endpoint:
    """One service address: ``target`` is ``host:port``."""

    target: str
    secure: bool


def endpoints(urls: str | Sequence[str], tls: Tls | None) -> list[Endpoint]:
    """``http://host:port`` (plaintext), ``https://host:port`` (TLS) or ``host:port``
    (TLS when ``tls`` is given)."""
    listed = [urls] if isinstance(urls, str) else list(urls)
    if not listed:
        raise ConfigurationError("no endpoint given: pass at least one URL such as http://127.0.0.1:50052")
    found = []
    for url in listed:
        scheme, _, rest = url.rpartition("://")
        target = rest.rstrip("/")
        host, _, port = target.rpartition(":")
        if scheme not in ("", "http", "https") or not host or not port.isdigit():
            raise ConfigurationError(f"invalid endpoint {url!r}: expected http://host:port or https://host:port")
        found.append(Endpoint(target, scheme == "https" or (scheme == "" and tls is not None)))
    return found


class RetryBudget:
    """Retries as a share of calls: a call deposits ``ratio``, a retry withdraws one,
    and one a second accrues besides (up to ``cap``)."""

    def __init__(self, ratio: float, per_second: float = 1.0, cap: float = 100.0) -> None:
        self._ratio, self._per_second, self._cap = ratio, per_second, cap
        self._tokens = per_second
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def _accrue(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._cap, self._tokens + (now - self._at) * self._per_second)
        self._at = now

    def deposit(self) -> None:
        with self._lock:
            self._accrue()
            self._tokens = min(self._cap, self._tokens + self._ratio)

    def withdraw(self) -> bool:
        with self._lock:
            self._accrue()
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


@dataclass(frozen=True)
class Settings:
    """What every call of a client shares."""

    deadline: float
    retry_ratio: float
    metadata: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, deadline: float, retry_ratio: float, token: str | None) -> Settings:
        if deadline <= 0:
            raise ConfigurationError(f"deadline must be positive seconds, got {deadline!r}")
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        return cls(deadline, retry_ratio, metadata)

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        token = "set" if self.metadata else "unset"
        return f"Settings(deadline={self.deadline}, retry_ratio={self.retry_ratio}, token={token})"


#: How long an endpoint that answered UNAVAILABLE is tried only after the others.
SET_ASIDE = 1.0


class Rotation:
    """Endpoints in turn: each call starts at the next, each retry moves on one, and an
    endpoint that just failed goes to the back for :data:`SET_ASIDE` seconds, so a dead
    replica costs one retry, not one in every few calls."""

    def __init__(self, stubs: list[Any]) -> None:
        self.stubs = stubs
        self._next = itertools.count()
        self._aside_until = [0.0] * len(stubs)

    def order(self) -> list[int]:
        """Endpoint indexes in the order this call tries them."""
        start = next(self._next) % len(self.stubs)
        turn = [*range(start, len(self.stubs)), *range(start)]
        now = time.monotonic()
        return sorted(turn, key=lambda i: self._aside_until[i] > now)

    def failed(self, index: int) -> None:
        self._aside_until[index] = time.monotonic() + SET_ASIDE


class Attempts:
    """The retry loop both pools share: which stub to try next with how much time left,
    and what a failure means."""

    def __init__(self, settings: Settings, stubs: list[Any]) -> None:
        self.settings = settings
        self._rotation = Rotation(stubs)
        self._budget = RetryBudget(settings.retry_ratio)

    def __iter__(self) -> Iterator[tuple[int, Any, float]]:
        """``(endpoint, stub, seconds left)`` for each attempt the deadline and the
        budget allow: the first always, retries while both last."""
        until = time.monotonic() + self.settings.deadline
        self._budget.deposit()
        order = self._rotation.order()
        for attempt in itertools.count():
            remaining = until - time.monotonic()
            if remaining <= 0 or (attempt > 0 and not self._budget.withdraw()):
                return
            index = order[attempt % len(order)]
            yield index, self._rotation.stubs[index], remaining

    def failed(self, index: int, error: grpc.RpcError) -> grpc.RpcError:
        """``error`` if it may be retried (UNAVAILABLE: the endpoint is set aside);
        otherwise raises what it means."""
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            raise from_rpc_error(error) from None
        self._rotation.failed(index)
        return error

    def exhausted(self, last: grpc.RpcError | None) -> CaixaError:
        """What to raise once no attempt is left."""
        if last is not None:
            return from_rpc_error(last)
        return Unavailable(
            f"no answer within the deadline of {self.settings.deadline} s", grpc.StatusCode.DEADLINE_EXCEEDED
        )


class Client:
    """What the four clients share: built from endpoints and credentials into a pool of
    the subclass's kind (``_pool``: blocking or asyncio) over its service's stub."""

    _pool_type: Callable[..., Any]
    _stub: Callable[[Any], Any]
    _default_deadline = DEFAULT_DEADLINE

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        token: str | None = None,
        tls: Tls | None = None,
        deadline: float | None = None,
        retry_ratio: float = 0.1,
    ) -> None:
        settings = Settings.of(self._default_deadline if deadline is None else deadline, retry_ratio, token)
        self._pool = type(self)._pool_type(urls, tls, settings, type(self)._stub)
