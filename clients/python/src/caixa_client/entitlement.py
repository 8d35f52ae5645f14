"""``EntitlementClient``: may this user use this feature now?"""

from __future__ import annotations

from collections.abc import Iterable

from caixa_client._proto.caixa.entitlement.v1 import entitlement_pb2_grpc

from . import _convert
from ._sync import Pool
from ._transport import Client
from .types import Access, Entitlements


class EntitlementClient(Client):
    """A client of the entitlement service. Thread-safe; make one and share it.

    ``urls``: one URL or several (``http://entitlement:50052``), calls spread over them.
    ``token``: sent as ``Authorization: Bearer``. ``tls``: a :class:`Tls` for TLS or mutual
    TLS. ``deadline``: seconds for a call, retries included.
    """

    _pool_type = Pool
    _stub = entitlement_pb2_grpc.EntitlementServiceStub
    _revision: int | None = None

    def at_least_as_fresh(self, revision: int) -> EntitlementClient:
        """This client, answering only from state at or after ``revision`` (the one
        ``BillingClient.sync_checkout_session`` returned): read your own write."""
        fresh = object.__new__(EntitlementClient)
        fresh._pool, fresh._revision = self._pool, revision
        return fresh

    def check(self, user_id: str, feature: str = "") -> Access:
        """May ``user_id`` use ``feature`` (empty: the paid app at all) now."""
        request = _convert.check_request(user_id, feature, self._revision)
        return _convert.access(self._pool.call("CheckAccess", request))

    def check_batch(self, checks: Iterable[tuple[str, str]]) -> list[Access]:
        """Several ``(user_id, feature)`` checks in one call, answered in order."""
        response = self._pool.call("CheckAccessBatch", _convert.batch_request(checks, self._revision))
        return [_convert.access(r) for r in response.results]

    def entitlements(self, user_id: str) -> Entitlements:
        """The features granted now and every subscription of ``user_id``."""
        request = _convert.entitlements_request(user_id, self._revision)
        return _convert.entitlements(self._pool.call("GetEntitlements", request))

    def close(self) -> None:
        """Closes the channels."""
        self._pool.close()

    def __enter__(self) -> EntitlementClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
