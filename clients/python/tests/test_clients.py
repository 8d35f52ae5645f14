"""The synchronous clients against the real services."""

from __future__ import annotations

import time

import grpc
import pytest

import stack as services
from caixa_client import (
    AccessReason,
    BillingClient,
    ConfigurationError,
    EntitlementClient,
    Rejected,
    SubscriptionStatus,
    Unauthorized,
    Unavailable,
)


def test_a_user_without_a_subscription_is_denied_and_one_who_subscribed_is_allowed_at_their_revision(
    stack, billing, entitlement, user_id
):
    # Arrange
    before = entitlement.check(user_id, "reports")

    # Act
    revision = stack.subscribe(user_id, billing)
    after = entitlement.at_least_as_fresh(revision).check(user_id, "reports")

    # Assert
    assert (before.allowed, before.reason, before.subscription_id) == (False, AccessReason.NO_SUBSCRIPTION, None)
    assert after.allowed and after.reason == AccessReason.TRIALING, after
    assert after.status == SubscriptionStatus.TRIALING
    assert after.revision >= revision > 0
    assert after.subscription_id and after.subscription_id.startswith("sub_")
    assert after.access_until is not None and after.access_until.timestamp() > time.time()
    assert not after.stale and not after.degraded


def test_a_batch_answers_in_order_and_entitlements_list_the_plans_features(stack, billing, entitlement, user_id):
    # Arrange
    fresh = entitlement.at_least_as_fresh(stack.subscribe(user_id, billing))

    # Act
    answers = fresh.check_batch([(user_id, "reports"), ("nobody-at-all", ""), (user_id, "not-sold")])
    granted = fresh.entitlements(user_id)

    # Assert
    assert [(a.allowed, a.reason) for a in answers] == [
        (True, AccessReason.TRIALING),
        (False, AccessReason.NO_SUBSCRIPTION),
        (False, AccessReason.FEATURE_NOT_IN_PLAN),
    ]
    assert granted.allowed and set(granted.features) == {"app", "reports"}
    assert [s.price_id for s in granted.subscriptions] == [stack.price]
    assert granted.subscriptions[0].trial_end is not None


def test_billing_answers_config_checkout_status_and_portal(stack, billing, user_id):
    # Act
    config = billing.config()
    first = billing.create_checkout_session(user_id, f"{user_id}@example.com")
    stack.stripe(f"/_emulator/checkout/sessions/{first.session_id}/complete", {})
    synced = billing.sync_checkout_session(first.session_id)
    status = billing.subscription_status(user_id)
    portal = billing.create_portal_session(user_id, return_url="https://shop.example.com/account")

    # Assert
    assert (config.publishable_key, config.live_mode, config.default_price_id) == (
        "pk_test_emulator",
        False,
        stack.price,
    )
    assert first.trial_applied and first.trial_days == config.trial_days > 0
    assert first.url.startswith("http") and first.session_id.startswith("cs_")
    assert (synced.user_id, synced.has_active_subscription, synced.status) == (
        user_id,
        True,
        SubscriptionStatus.TRIALING,
    )
    assert status.has_active_subscription and not status.trial_eligible
    assert status.subscription is not None and status.subscription.subscription_id == synced.subscription_id
    assert status.customer_id and status.customer_id.startswith("cus_")
    assert portal.startswith("http")


def test_errors_say_what_the_caller_should_do(stack, entitlement):
    # A user id the service refuses: fix the request.
    with pytest.raises(Rejected) as rejected:
        entitlement.check("u" * 300)
    assert rejected.value.code == grpc.StatusCode.INVALID_ARGUMENT

    # A token the service does not know, and a caller the policy does not allow this
    # method: fix the credentials or the policy.
    with EntitlementClient(stack.entitlement, token="not-a-token") as stranger:
        with pytest.raises(Unauthorized) as refused:
            stranger.check("someone")
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    with EntitlementClient(stack.entitlement, token=services.TOKENS["reports"]) as reports:
        assert reports.check("someone").reason == AccessReason.NO_SUBSCRIPTION
        with pytest.raises(Unauthorized) as denied:
            reports.entitlements("someone")
    assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert "reports-token" not in str(denied.value), "the token stays out of messages"

    # Nobody listening: retry later (or apply the fail mode), within the deadline.
    with EntitlementClient(f"http://127.0.0.1:{services.free_port()}", deadline=0.3) as gone:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            gone.check("someone")
        assert time.monotonic() - started < 2.0

    # A revision nobody holds yet: the service waits for it within the deadline, then
    # says it is unavailable. One no write could have made is refused outright.
    head = entitlement.check("someone").revision
    with pytest.raises(Unavailable):
        entitlement.at_least_as_fresh(head + 1).check("someone")
    with pytest.raises(Rejected) as impossible:
        entitlement.at_least_as_fresh(head + 10**9).check("someone")
    assert impossible.value.code == grpc.StatusCode.OUT_OF_RANGE


def test_a_call_moves_on_to_the_next_endpoint_when_one_is_down_and_the_next_calls_avoid_it(stack):
    # Arrange: a dead endpoint first, the real one second.
    dead = f"http://127.0.0.1:{services.free_port()}"
    with EntitlementClient([dead, stack.entitlement], token=services.TOKENS["web"], deadline=2.0) as client:
        # Act and assert: every call is answered; the first by a retry (the budget's one
        # a second), the rest without one, the dead endpoint set aside once it failed.
        for _ in range(20):
            assert client.check("nobody").reason == AccessReason.NO_SUBSCRIPTION


@pytest.mark.parametrize(
    "urls",
    [[], ["127.0.0.1"], ["ftp://127.0.0.1:50052"], ["http://:50052"]],
)
def test_endpoints_that_are_not_urls_are_refused_naming_them(urls):
    with pytest.raises(ConfigurationError, match="endpoint"):
        EntitlementClient(urls)


def test_a_deadline_must_be_positive():
    with pytest.raises(ConfigurationError, match="deadline"):
        BillingClient("http://127.0.0.1:50051", deadline=0)
