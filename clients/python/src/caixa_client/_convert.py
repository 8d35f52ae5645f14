"""Contract messages to and from the package's typed values (shared by the sync and
asyncio clients)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from caixa_client._proto.caixa.billing.v1 import billing_pb2, types_pb2
from caixa_client._proto.caixa.entitlement.v1 import entitlement_pb2

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
    when,
)


def reason(value: int) -> AccessReason:
    return AccessReason(types_pb2.AccessReason.Name(value))


def status(value: int) -> SubscriptionStatus:
    return SubscriptionStatus(types_pb2.SubscriptionStatus.Name(value))


def consistency(revision: int | None) -> entitlement_pb2.Consistency | None:
    if revision is None:
        return None
    return entitlement_pb2.Consistency(at_least_as_fresh=revision)


def check_request(user_id: str, feature: str, revision: int | None) -> entitlement_pb2.CheckAccessRequest:
    return entitlement_pb2.CheckAccessRequest(user_id=user_id, feature=feature, consistency=consistency(revision))


def batch_request(checks: Iterable[tuple[str, str]], revision: int | None) -> entitlement_pb2.CheckAccessBatchRequest:
    return entitlement_pb2.CheckAccessBatchRequest(checks=[check_request(u, f, revision) for u, f in checks])


def entitlements_request(user_id: str, revision: int | None) -> entitlement_pb2.GetEntitlementsRequest:
    return entitlement_pb2.GetEntitlementsRequest(user_id=user_id, consistency=consistency(revision))


def limit(message: Any) -> Limit:
    return UNLIMITED if message.unlimited else message.value


def limits(features: Iterable[Any]) -> dict[str, Limit]:
    return {f.feature: limit(f.limit) for f in features if f.HasField("limit")}


def access(response: Any) -> Access:
    return Access(
        allowed=response.allowed,
        reason=reason(response.reason),
        status=status(response.status),
        access_until=when(response, "access_until"),
        subscription_id=response.subscription_id or None,
        revision=response.revision,
        as_of=when(response, "as_of"),
        stale=response.stale,
        limit=limit(response.limit) if response.HasField("limit") else None,
        seats=response.seats,
    )


def subscription(snapshot: Any) -> Subscription:
    return Subscription(
        subscription_id=snapshot.subscription_id,
        customer_id=snapshot.customer_id,
        status=status(snapshot.status),
        price_id=snapshot.price_id,
        product_id=snapshot.product_id,
        features=tuple(snapshot.features),
        trial_start=when(snapshot, "trial_start"),
        trial_end=when(snapshot, "trial_end"),
        current_period_start=when(snapshot, "current_period_start"),
        current_period_end=when(snapshot, "current_period_end"),
        cancel_at_period_end=snapshot.cancel_at_period_end,
        cancel_at=when(snapshot, "cancel_at"),
        ended_at=when(snapshot, "ended_at"),
        past_due_since=when(snapshot, "past_due_since"),
        quantity=snapshot.quantity,
        limits=limits(snapshot.limits),
    )


def entitlements(response: Any) -> Entitlements:
    return Entitlements(
        user_id=response.user_id,
        allowed=response.allowed,
        reason=reason(response.reason),
        features=tuple(response.features),
        subscriptions=tuple(subscription(s) for s in response.subscriptions),
        revision=response.revision,
        as_of=when(response, "as_of"),
        stale=response.stale,
        limits=limits(response.limits),
        seats=response.seats,
    )


def checkout_request(
    user_id: str,
    email: str,
    price_id: str | None,
    urls: tuple[str | None, str | None],
    quantity: int | None,
    allow_promotion_codes: bool,
) -> billing_pb2.CreateCheckoutSessionRequest:
    return billing_pb2.CreateCheckoutSessionRequest(
        user_id=user_id,
        email=email,
        price_id=price_id,
        success_url=urls[0],
        cancel_url=urls[1],
        quantity=quantity,
        allow_promotion_codes=allow_promotion_codes,
    )


def plans(response: Any) -> list[Plan]:
    return [
        Plan(
            price_id=p.price_id,
            product_id=p.product_id,
            name=p.name,
            description=p.description,
            unit_amount=p.unit_amount,
            currency=p.currency,
            interval=p.interval,
            interval_count=p.interval_count,
            trial_days=p.trial_days,
            features={f.feature: limit(f.limit) if f.HasField("limit") else None for f in p.features},
            lookup_key=p.lookup_key or None,
            order=p.order,
            default=p.default,
        )
        for p in response.plans
    ]


def checkout(response: Any) -> CheckoutSession:
    return CheckoutSession(
        session_id=response.session_id,
        url=response.url,
        trial_applied=response.trial_applied,
        trial_days=response.trial_days,
        expires_at=when(response, "expires_at"),
    )


def synced(response: Any) -> SyncedCheckout:
    return SyncedCheckout(
        session_id=response.session_id,
        user_id=response.user_id,
        subscription_id=response.subscription_id or None,
        status=status(response.status),
        has_active_subscription=response.has_active_subscription,
        revision=response.revision,
    )


def report(response: Any) -> SubscriptionReport:
    return SubscriptionReport(
        user_id=response.user_id,
        has_active_subscription=response.has_active_subscription,
        reason=reason(response.reason),
        subscription=subscription(response.subscription) if response.HasField("subscription") else None,
        trial_eligible=response.trial_eligible,
        customer_id=response.customer_id or None,
        revision=response.revision,
    )


def config(response: Any) -> BillingConfig:
    return BillingConfig(
        publishable_key=response.publishable_key,
        live_mode=response.live_mode,
        default_price_id=response.default_price_id or None,
        trial_days=response.trial_days,
    )
