"""The asyncio clients against the real services."""

from __future__ import annotations

import asyncio

import grpc
import pytest

import stack as services
from caixa_client import AccessReason, Rejected, Unavailable
from caixa_client.aio import AsyncBillingClient, AsyncEntitlementClient


def test_the_async_clients_check_subscribe_and_read_their_writes(stack, user_id):
    async def scenario():
        token = services.TOKENS["web"]
        async with (
            AsyncBillingClient(stack.billing, token=token) as billing,
            AsyncEntitlementClient(stack.entitlement, token=token, deadline=2.0) as entitlement,
        ):
            before = await entitlement.check(user_id, "reports")
            plans = await billing.list_plans()
            session = await billing.create_checkout_session(
                user_id, f"{user_id}@example.com", quantity=2, allow_promotion_codes=True
            )
            await asyncio.to_thread(stack.stripe, f"/_emulator/checkout/sessions/{session.session_id}/complete", {})
            synced = await billing.sync_checkout_session(session.session_id)
            fresh = entitlement.at_least_as_fresh(synced.revision)
            after, batch, granted = await asyncio.gather(
                fresh.check(user_id, "reports"),
                fresh.check_batch([(user_id, "app"), (user_id, "not-sold")]),
                fresh.entitlements(user_id),
            )
            with pytest.raises(Rejected) as rejected:
                await entitlement.check("", "reports")
            return plans, before, after, batch, granted, rejected.value

    plans, before, after, batch, granted, rejected = asyncio.run(scenario())

    assert before.reason == AccessReason.NO_SUBSCRIPTION and not before.allowed
    assert after.allowed and after.reason == AccessReason.TRIALING
    assert after.seats == 2 and granted.seats == 2, "the seats bought"
    assert any(p.default and p.price_id == stack.price for p in plans), "the plans, from billing's catalogue"
    assert [a.reason for a in batch] == [AccessReason.TRIALING, AccessReason.FEATURE_NOT_IN_PLAN]
    assert set(granted.features) == {"app", "reports"}
    assert rejected.code == grpc.StatusCode.INVALID_ARGUMENT


def test_the_async_client_says_unavailable_when_nobody_listens():
    async def scenario():
        async with AsyncEntitlementClient(f"http://127.0.0.1:{services.free_port()}", deadline=0.3) as gone:
            with pytest.raises(Unavailable):
                await gone.check("someone")

    asyncio.run(scenario())
