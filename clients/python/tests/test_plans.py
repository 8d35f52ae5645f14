"""Plans and limits from Python: the pricing table, seats bought at checkout, and the
limit a plan sets, through the real services."""

from __future__ import annotations

import stack as services
from caixa_client import UNLIMITED, AccessReason


def _plan(stack, name: str, metadata: dict[str, str], amount: str) -> str:
    product = stack.stripe("/v1/products", {"name": name, **{f"metadata[{k}]": v for k, v in metadata.items()}})
    price = stack.stripe(
        "/v1/prices",
        {"product": product["id"], "currency": "brl", "unit_amount": amount, "recurring[interval]": "month"},
    )
    return price["id"]


def test_the_pricing_table_lists_each_plan_with_its_features_and_limits(stack, billing):
    # Arrange
    team = _plan(stack, "Py Team", {"features": "reports", "limits.projects": "10", "order": "1"}, "2500")

    # Act
    services.wait_for("the plan on sale", lambda: any(p.price_id == team for p in billing.list_plans()))
    plans = billing.list_plans()

    # Assert
    listed = next(p for p in plans if p.price_id == team)
    assert (listed.name, listed.unit_amount, listed.currency, listed.interval) == ("Py Team", 2500, "brl", "month")
    assert listed.features == {"projects": 10, "reports": None}
    assert listed.order == 1 and not listed.default
    assert any(p.default and p.price_id == stack.price for p in plans), "the default price is marked"
    assert plans.index(listed) < next(i for i, p in enumerate(plans) if p.price_id == stack.price), "order first"


def test_seats_bought_at_checkout_and_the_plans_limit_come_back_in_every_answer(stack, billing, entitlement, user_id):
    # Arrange: an agency plan with no bound on projects.
    agency = _plan(stack, "Py Agency", {"features": "reports", "limits.projects": "unlimited"}, "9900")
    services.wait_for("the plan on sale", lambda: any(p.price_id == agency for p in billing.list_plans()))

    # Act: four seats, promotion codes offered.
    session = billing.create_checkout_session(
        user_id, f"{user_id}@example.com", price_id=agency, quantity=4, allow_promotion_codes=True
    )
    stack.stripe(f"/_emulator/checkout/sessions/{session.session_id}/complete", {})
    fresh = entitlement.at_least_as_fresh(billing.sync_checkout_session(session.session_id).revision)
    projects = fresh.check(user_id, "projects")
    reports = fresh.check(user_id, "reports")
    granted = fresh.entitlements(user_id)

    # Assert
    assert projects.allowed and projects.reason == AccessReason.TRIALING
    assert (projects.limit, projects.seats) == (UNLIMITED, 4)
    assert projects.limit > 10**9, "unlimited compares above any count"
    assert (reports.limit, reports.seats) == (None, 4), "reports carries no number"
    assert granted.limits == {"projects": UNLIMITED} and granted.seats == 4
    assert granted.subscriptions[0].quantity == 4
    opened = stack.stripe(f"/v1/checkout/sessions/{session.session_id}")
    assert opened["allow_promotion_codes"] is True
