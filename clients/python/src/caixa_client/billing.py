"""``BillingClient``: checkout, the customer portal, status and configuration."""

from __future__ import annotations

from caixa_client._proto.caixa.billing.v1 import billing_pb2, billing_pb2_grpc

from . import _convert
from ._sync import Pool
from ._transport import Client
from .types import BillingConfig, CheckoutSession, Plan, SubscriptionReport, SyncedCheckout

#: Billing calls Stripe for checkout, sync and portal: a longer default than checks.
BILLING_DEADLINE = 10.0


class BillingClient(Client):
    """A client of the billing service. Thread-safe; make one and share it. Arguments
    as :class:`~caixa_client.EntitlementClient`'s."""

    _pool_type = Pool
    _stub = billing_pb2_grpc.BillingServiceStub
    _default_deadline = BILLING_DEADLINE

    def create_checkout_session(
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
        """A Checkout Session for ``user_id``, with the free trial if they never had one."""
        urls = (success_url, cancel_url)
        request = _convert.checkout_request(user_id, email, price_id, urls, quantity, allow_promotion_codes)
        return _convert.checkout(self._pool.call("CreateCheckoutSession", request))

    def sync_checkout_session(self, session_id: str) -> SyncedCheckout:
        """Fetches the session from Stripe and applies it (for the success page); its
        ``revision`` goes to ``EntitlementClient.at_least_as_fresh``."""
        request = billing_pb2.SyncCheckoutSessionRequest(session_id=session_id)
        return _convert.synced(self._pool.call("SyncCheckoutSession", request))

    def create_portal_session(self, user_id: str, *, return_url: str | None = None) -> str:
        """The URL of a Customer Portal session for a user who has a customer."""
        request = billing_pb2.CreatePortalSessionRequest(user_id=user_id, return_url=return_url)
        return self._pool.call("CreatePortalSession", request).url

    def subscription_status(self, user_id: str) -> SubscriptionReport:
        """The user's subscription as billing has it, with access computed now."""
        request = billing_pb2.GetSubscriptionStatusRequest(user_id=user_id)
        return _convert.report(self._pool.call("GetSubscriptionStatus", request))

    def config(self) -> BillingConfig:
        """The publishable key, mode, default price and trial length."""
        return _convert.config(self._pool.call("GetConfig", billing_pb2.GetConfigRequest()))

    def list_plans(self) -> list[Plan]:
        """The plans on sale, in display order, for a pricing page."""
        return _convert.plans(self._pool.call("ListPlans", billing_pb2.ListPlansRequest()))

    def close(self) -> None:
        """Closes the channels."""
        self._pool.close()

    def __enter__(self) -> BillingClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
