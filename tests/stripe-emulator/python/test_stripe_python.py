"""The emulator as Stripe's own Python library sees it: objects it parses, the error
classes it raises (by Stripe's status, type and code), request ids, pagination.

Run by scripts/check-emulator-with-stripe-python.sh, which starts the emulator and sets
EMULATOR_URL.
"""

import os
import urllib.parse
import urllib.request
import uuid

import pytest
import stripe

URL = os.environ["EMULATOR_URL"]


@pytest.fixture()
def client():
    return stripe.StripeClient(
        "sk_test_python",
        base_addresses={"api": URL},
        max_network_retries=0,
    )


def test_objects_parse_into_the_library_s_types(client):
    customer = client.v1.customers.create(
        params={"email": "ana@example.com", "metadata": {"user_id": "u1"}}
    )
    assert isinstance(customer, stripe.Customer)
    assert customer.id.startswith("cus_") and customer.metadata["user_id"] == "u1"
    product = client.v1.products.create(params={"name": "Pro", "metadata": {"features": "app"}})
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "brl",
            "unit_amount": 4990,
            "recurring": {"interval": "month"},
        }
    )
    assert isinstance(price, stripe.Price) and price.recurring.interval == "month"
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "http://localhost/ok",
        }
    )
    assert isinstance(session, stripe.checkout.Session)
    assert session.status == "open" and session.url and session.ui_mode == "hosted_page"
    again = client.v1.customers.retrieve(customer.id)
    assert again.email == "ana@example.com"


def test_lists_page_through_every_object(client):
    email = f"{uuid.uuid4().hex}@example.com"
    made = {client.v1.customers.create(params={"email": email}).id for _ in range(5)}
    seen = {c.id for c in client.v1.customers.list(params={"email": email, "limit": 2}).auto_paging_iter()}
    assert seen == made


def test_an_unknown_parameter_raises_invalid_request_naming_it(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params={"emial": "x@example.com"})
    assert raised.value.param == "emial" and raised.value.code == "parameter_unknown"
    assert raised.value.http_status == 400 and raised.value.request_id.startswith("req_")


def test_a_missing_object_raises_invalid_request_with_404(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_missing")
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"


def test_a_reused_idempotency_key_raises_idempotency_error(client):
    key = uuid.uuid4().hex
    client.v1.customers.create(params={"email": "a@example.com"}, options={"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": key})
    assert raised.value.http_status == 400


def test_a_rate_limit_raises_rate_limit_error(client):
    control = urllib.parse.urlencode({"count": 1}).encode()
    urllib.request.urlopen(f"{URL}/_emulator/rate_limit", data=control).read()
    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.customers.list()
    assert raised.value.http_status == 429
    assert raised.value.headers.get("stripe-should-retry") == "true"


def test_a_missing_key_raises_authentication_error():
    anonymous = stripe.StripeClient("sk_test_x", base_addresses={"api": URL}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        anonymous.v1.customers.retrieve("cus_x", options={"api_key": "pk_test_not_a_secret"})


def test_coupons_promotion_codes_and_a_session_with_seats_parse_as_the_library_s_types(client):
    coupon = client.v1.coupons.create(params={"percent_off": 25, "duration": "once"})
    assert isinstance(coupon, stripe.Coupon) and coupon.percent_off == 25 and coupon.valid
    code = f"SPRING{uuid.uuid4().hex[:6].upper()}"
    promo = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": code}
    )
    assert isinstance(promo, stripe.PromotionCode)
    assert promo.code == code and promo.active and promo.promotion.coupon == coupon.id
    listed = client.v1.promotion_codes.list(params={"code": code})
    assert [p.id for p in listed.data] == [promo.id]
    product = client.v1.products.create(params={"name": "Team"})
    price = client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 1000, "recurring": {"interval": "month"}}
    )
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 3}],
            "allow_promotion_codes": True,
            "success_url": "http://localhost/ok",
        }
    )
    assert session.allow_promotion_codes is True and session.amount_total == 3000
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.coupons.create(params={"duration": "once"})
    assert refused.value.param == "percent_off"
