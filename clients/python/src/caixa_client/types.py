"""The answers, as typed values: no protobuf message crosses this package's API."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: A number a plan sets on a feature (how many projects, say): a count, or
#: :data:`UNLIMITED`, which compares above every count.
Limit = int | float

#: The limit of a plan that sets no bound (``unlimited`` in Stripe's metadata).
UNLIMITED: float = math.inf


class AccessReason(str, enum.Enum):
    """Why access was granted or refused (the contracts' ``AccessReason``). The value is
    the contract's name, as the guards put it in a refusal's JSON body."""

    UNSPECIFIED = "ACCESS_REASON_UNSPECIFIED"
    TRIALING = "ACCESS_REASON_TRIALING"
    ACTIVE = "ACCESS_REASON_ACTIVE"
    CANCELING = "ACCESS_REASON_CANCELING"
    PAST_DUE_GRACE = "ACCESS_REASON_PAST_DUE_GRACE"
    PAYMENT_FAILED = "ACCESS_REASON_PAYMENT_FAILED"
    INCOMPLETE = "ACCESS_REASON_INCOMPLETE"
    PAUSED = "ACCESS_REASON_PAUSED"
    CANCELED = "ACCESS_REASON_CANCELED"
    NO_SUBSCRIPTION = "ACCESS_REASON_NO_SUBSCRIPTION"
    FEATURE_NOT_IN_PLAN = "ACCESS_REASON_FEATURE_NOT_IN_PLAN"
    STALE = "ACCESS_REASON_STALE"
    TRIAL_ENDING = "ACCESS_REASON_TRIAL_ENDING"


class SubscriptionStatus(str, enum.Enum):
    """Stripe's status of a subscription (the contracts' ``SubscriptionStatus``)."""

    UNSPECIFIED = "SUBSCRIPTION_STATUS_UNSPECIFIED"
    INCOMPLETE = "SUBSCRIPTION_STATUS_INCOMPLETE"
    INCOMPLETE_EXPIRED = "SUBSCRIPTION_STATUS_INCOMPLETE_EXPIRED"
    TRIALING = "SUBSCRIPTION_STATUS_TRIALING"
    ACTIVE = "SUBSCRIPTION_STATUS_ACTIVE"
    PAST_DUE = "SUBSCRIPTION_STATUS_PAST_DUE"
    CANCELED = "SUBSCRIPTION_STATUS_CANCELED"
    UNPAID = "SUBSCRIPTION_STATUS_UNPAID"
    PAUSED = "SUBSCRIPTION_STATUS_PAUSED"


_EXPLANATIONS = {
    AccessReason.TRIALING: "trialing",
    AccessReason.ACTIVE: "active subscription",
    AccessReason.CANCELING: "active until the scheduled cancellation",
    AccessReason.PAST_DUE_GRACE: "payment failed; in the grace period",
    AccessReason.PAYMENT_FAILED: "payment failed",
    AccessReason.INCOMPLETE: "the first payment is not complete",
    AccessReason.PAUSED: "the subscription is paused",
    AccessReason.TRIAL_ENDING: "the trial has just ended; the first payment is on its way",
    AccessReason.STALE: "the service's copy is stale",
    AccessReason.CANCELED: "the subscription or trial has ended",
    AccessReason.NO_SUBSCRIPTION: "no subscription",
    AccessReason.FEATURE_NOT_IN_PLAN: "the feature is not in the plan",
}


@dataclass(frozen=True)
class Access:
    """The entitlement service's answer to one check."""

    allowed: bool
    reason: AccessReason
    status: SubscriptionStatus
    #: Until when this answer holds if nothing changes; None when refused.
    access_until: datetime | None
    #: The subscription that decided; None when the user has none.
    subscription_id: str | None
    #: The revision of the state the answer came from.
    revision: int
    #: When the service last knew itself current with billing.
    as_of: datetime | None = None
    #: The service had lost billing for longer than its staleness bound.
    stale: bool = False
    #: Let through without an answer: the service could not be asked and the route fails
    #: open. Nothing about the user is known.
    degraded: bool = False
    #: When granted for a feature: the largest number a granting plan sets on it; None
    #: when no plan sets one.
    limit: Limit | None = None
    #: When granted: the seats bought on the subscription that decided; 0 when refused.
    seats: int = 0

    @classmethod
    def degraded_pass(cls) -> Access:
        """What a fail-open guard hands the view when the service cannot be asked."""
        return cls(True, AccessReason.UNSPECIFIED, SubscriptionStatus.UNSPECIFIED, None, None, 0, degraded=True)

    @property
    def explanation(self) -> str:
        """The reason in words a user can act on (as the Rust guard words it)."""
        return _EXPLANATIONS.get(self.reason, "not allowed")


@dataclass(frozen=True)
class Subscription:
    """One subscription as billing last applied it."""

    subscription_id: str
    customer_id: str
    status: SubscriptionStatus
    price_id: str
    product_id: str
    features: tuple[str, ...]
    trial_start: datetime | None = None
    trial_end: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    cancel_at: datetime | None = None
    ended_at: datetime | None = None
    past_due_since: datetime | None = None
    #: Seats bought: the item's quantity.
    quantity: int = 1
    #: The numbers its plan sets on features, by feature.
    limits: dict[str, Limit] = field(default_factory=dict)


@dataclass(frozen=True)
class Entitlements:
    """Everything a user is entitled to now."""

    user_id: str
    allowed: bool
    reason: AccessReason
    features: tuple[str, ...]
    subscriptions: tuple[Subscription, ...]
    revision: int
    as_of: datetime | None = None
    stale: bool = False
    #: The numbers set on the features granted now, the largest over granting plans.
    limits: dict[str, Limit] = field(default_factory=dict)
    #: Seats bought on the subscription that decides access; 0 when refused.
    seats: int = 0


@dataclass(frozen=True)
class Plan:
    """One price on sale, for a pricing page (``BillingClient.list_plans``)."""

    price_id: str
    product_id: str
    name: str
    description: str
    #: Per period and seat, in the currency's smallest unit (cents).
    unit_amount: int
    currency: str
    #: ``day``, ``week``, ``month`` or ``year``, ``interval_count`` of them a period.
    interval: str
    interval_count: int
    trial_days: int
    #: Every feature granted, in order, with its limit (None where the plan sets none).
    features: dict[str, Limit | None]
    lookup_key: str | None
    order: int
    #: ``STRIPE_DEFAULT_PRICE_ID``.
    default: bool


@dataclass(frozen=True)
class CheckoutSession:
    """A Stripe Checkout Session opened for a user."""

    session_id: str
    #: The hosted checkout page to send the user to.
    url: str
    trial_applied: bool
    trial_days: int
    expires_at: datetime | None = None


@dataclass(frozen=True)
class SyncedCheckout:
    """A Checkout Session fetched from Stripe and applied, from the success page."""

    session_id: str
    user_id: str
    #: None while the session is not complete.
    subscription_id: str | None
    status: SubscriptionStatus
    has_active_subscription: bool
    #: Pass to ``EntitlementClient.at_least_as_fresh`` to read this write.
    revision: int


@dataclass(frozen=True)
class SubscriptionReport:
    """A user's subscription as billing has it, with access computed now."""

    user_id: str
    has_active_subscription: bool
    reason: AccessReason
    subscription: Subscription | None
    trial_eligible: bool
    customer_id: str | None
    revision: int


@dataclass(frozen=True)
class BillingConfig:
    """What a frontend needs to start a checkout."""

    publishable_key: str
    live_mode: bool
    default_price_id: str | None
    trial_days: int


def when(message: Any, name: str) -> datetime | None:
    """A Timestamp field as an aware datetime, or None when unset."""
    if not message.HasField(name):
        return None
    return datetime.fromtimestamp(getattr(message, name).seconds, tz=timezone.utc)
