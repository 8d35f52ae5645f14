"""caixa's Python callers: typed clients of the entitlement and billing services (sync
here, asyncio in :mod:`caixa_client.aio`), and guards for Django
(:mod:`caixa_client.django`) and Django REST framework (:mod:`caixa_client.drf`)."""

from ._transport import Tls
from .billing import BillingClient
from .entitlement import EntitlementClient
from .errors import CaixaError, ConfigurationError, Rejected, Unauthorized, Unavailable
from .types import (
    UNLIMITED,
    Access,
    AccessReason,
    BillingConfig,
    CheckoutSession,
    Entitlements,
    Limit,
    Plan,
    Subscription,
    SubscriptionReport,
    SubscriptionStatus,
    SyncedCheckout,
)

__all__ = [
    "Access",
    "AccessReason",
    "BillingClient",
    "BillingConfig",
    "CaixaError",
    "CheckoutSession",
    "ConfigurationError",
    "EntitlementClient",
    "Entitlements",
    "Limit",
    "Plan",
    "Rejected",
    "Subscription",
    "SubscriptionReport",
    "SubscriptionStatus",
    "SyncedCheckout",
    "Tls",
    "UNLIMITED",
    "Unauthorized",
    "Unavailable",
]
