"""grpcurl, the real one, against both services as deployed here (tokens and a caller
policy): reflection lists what each serves without credentials, health answers, and a
call with a token gets an answer. These are the lines the docs show."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stack as services

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")


def grpcurl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    "service, listed",
    [("billing", "caixa.billing.v1.BillingService"), ("entitlement", "caixa.entitlement.v1.EntitlementService")],
)
def test_reflection_and_health_answer_without_credentials(stack, service, listed):
    address = getattr(stack, service).removeprefix("http://")

    services_listed = grpcurl(address, "list")
    health = grpcurl(address, "grpc.health.v1.Health/Check")

    assert services_listed.returncode == 0, services_listed.stderr
    assert listed in services_listed.stdout.split()
    assert "grpc.health.v1.Health" in services_listed.stdout.split()
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {"status": "SERVING"}


def test_a_call_needs_a_token_and_answers_with_one(stack):
    address = stack.entitlement.removeprefix("http://")
    request = json.dumps({"user_id": "grpcurl-user", "feature": "reports"})
    method = "caixa.entitlement.v1.EntitlementService/CheckAccess"

    without = grpcurl("-d", request, address, method)
    with_token = grpcurl("-H", f"authorization: Bearer {services.TOKENS['web']}", "-d", request, address, method)

    assert without.returncode != 0 and "Unauthenticated" in without.stderr, without.stderr
    assert with_token.returncode == 0, with_token.stderr
    answer = json.loads(with_token.stdout)
    assert answer["reason"] == "ACCESS_REASON_NO_SUBSCRIPTION" and "allowed" not in answer


def test_the_documented_list_plans_and_seated_checkout_lines_answer(stack):
    address = stack.billing.removeprefix("http://")
    token = ("-H", f"authorization: Bearer {services.TOKENS['web']}")
    checkout = json.dumps(
        {"user_id": "grpcurl-seats", "email": "seats@example.com", "quantity": 3, "allow_promotion_codes": True}
    )

    # The checkout reads its price from Stripe, so billing's catalogue holds it after.
    opened = grpcurl(*token, "-d", checkout, address, "caixa.billing.v1.BillingService/CreateCheckoutSession")

    def listed() -> list[dict]:
        plans = grpcurl(*token, address, "caixa.billing.v1.BillingService/ListPlans")
        assert plans.returncode == 0, plans.stderr
        return json.loads(plans.stdout).get("plans", [])

    services.wait_for("the default plan listed", lambda: any(p.get("default") for p in listed()))
    listed = listed()
    default = next(p for p in listed if p.get("default"))
    assert default["priceId"] == stack.price and default["unitAmount"] == "4990"
    assert [f["feature"] for f in default["features"]] == ["app", "reports"]
    assert opened.returncode == 0, opened.stderr
    session = stack.stripe(f"/v1/checkout/sessions/{json.loads(opened.stdout)['sessionId']}")
    assert session["allow_promotion_codes"] is True
