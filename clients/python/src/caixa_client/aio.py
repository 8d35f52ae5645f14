"""The asyncio clients, on ``grpc.aio``: the same calls as the synchronous ones, awaited.
Make them inside the event loop that will use them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc
from grpc import aio

from caixa_client._proto.caixa.billing.v1 import billing_pb2, billing_pb2_grpc
from caixa_client._proto.caixa.entitlement.v1 import entitlement_pb2_grpc

from . import _convert
from ._transport import Attempts, Client, Settings, Tls, endpoints
from .billing import BILLING_DEADLINE
from .types import Access, BillingConfig, CheckoutSession, Entitlements, Plan, SubscriptionReport, SyncedCheckout


class _Pool:
    def __init__(self, urls: str | Sequence[str], tls: Tls | None, settings: Settings, stub: Callable[[Any], Any]):
        self._channels = [
            aio.secure_channel(e.target, (tls or Tls()).credentials()) if e.secure else aio.insecure_channel(e.target)
            for e in endpoints(urls, tls)
        ]
        self._attempts = Attempts(settings, [stub(c) for c in self._channels])

    async def call(self, method: str, request: Any) -> Any:
        last = None
        for index, stub, remaining in self._attempts:
            try:
                return await getattr(stub, method)(
                    request, timeout=remaining, metadata=self._attempts.settings.metadata
                )
            except grpc.RpcError as error:
                last = self._attempts.failed(index, error)
        raise self._attempts.exhausted(last) from None

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


class AsyncEntitlementClient(Client):
    """:class:`~caixa_client.EntitlementClient`, awaited."""

    _pool_type = _Pool
    _stub = entitlement_pb2_grpc.EntitlementServiceStub
    _revision: int | None = None

    def at_least_as_fresh(self, revision: int) -> AsyncEntitlementClient:
        """Answers only from state at or after ``revision``."""
        fresh = object.__new__(AsyncEntitlementClient)
        fresh._pool, fresh._revision = self._pool, revision
        return fresh

    async def check(self, user_id: str, feature: str = "") -> Access:
        request = _convert.check_request(user_id, feature, self._revision)
        return _convert.access(await self._pool.call("CheckAccess", request))

    async def check_batch(self, checks: Iterable[tuple[str, str]]) -> list[Access]:
        response = await self._pool.call("CheckAccessBatch", _convert.batch_request(checks, self._revision))
        return [_convert.access(r) for r in response.results]

    async def entitlements(self, user_id: str) -> Entitlements:
        request = _convert.entitlements_request(user_id, self._revision)
        return _convert.entitlements(await self._pool.call("GetEntitlements", request))

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> AsyncEntitlementClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class AsyncBillingClient(Client):
    """:class:`~caixa_client.BillingClient`, awaited."""

    _pool_type = _Pool
    _stub = billing_pb2_grpc.BillingServiceStub
    _default_deadline = BILLING_DEADLINE

    async def create_checkout_session(
        self,
        user_id: str,
        email: str,
        *,
        price_id: str | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
        quantity: int | None = None,
        allow_promotion_codes: bool = False,
    ) -> CheckoutSession:
        urls = (success_url, cancel_url)
        request = _convert.checkout_request(user_id, email, price_id, urls, quantity, allow_promotion_codes)
        return _convert.checkout(await self._pool.call("CreateCheckoutSession", request))

    async def sync_checkout_session(self, session_id: str) -> SyncedCheckout:
        request = billing_pb2.SyncCheckoutSessionRequest(session_id=session_id)
        return _convert.synced(await self._pool.call("SyncCheckoutSession", request))

    async def create_portal_session(self, user_id: str, *, return_url: str | None = None) -> str:
        request = billing_pb2.CreatePortalSessionRequest(user_id=user_id, return_url=return_url)
        return (await self._pool.call("CreatePortalSession", request)).url

    async def subscription_status(self, user_id: str) -> SubscriptionReport:
        request = billing_pb2.GetSubscriptionStatusRequest(user_id=user_id)
        return _convert.report(await self._pool.call("GetSubscriptionStatus", request))

    async def config(self) -> BillingConfig:
        return _convert.config(await self._pool.call("GetConfig", billing_pb2.GetConfigRequest()))

    async def list_plans(self) -> list[Plan]:
        return _convert.plans(await self._pool.call("ListPlans", billing_pb2.ListPlansRequest()))

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> AsyncBillingClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
