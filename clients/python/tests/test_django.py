"""The Django guards (middleware, decorator on a function, a class and an async view) and
DRF's permission, in the example project, against the real services."""

from __future__ import annotations

import json
import logging

import pytest

import stack as services
from caixa_client import AccessReason

GUARDED = ["/reports/", "/export/", "/api/reports/", "/api/async-reports/"]


@pytest.fixture
def client(django_project):
    from django.test import Client

    return Client()


def signed_in(client, name: str) -> str:
    """Signs ``name`` in through the example's login view; their caixa user id (the pk)."""
    from django.contrib.auth.models import User

    assert client.get(f"/login/{name}/").status_code == 200
    return str(User.objects.get(username=name).pk)


def body(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response
    return json.loads(response.content)


def test_without_a_user_every_guard_answers_401(client):
    for path in GUARDED:
        response = client.get(path)
        assert (response.status_code, body(response)["error"]) == (401, "unauthenticated"), path


def test_a_user_without_a_subscription_gets_403_naming_the_reason_then_passes_once_subscribed(
    client, stack, billing, user_id
):
    # Arrange
    pk = signed_in(client, user_id)

    # Act: refused everywhere, then subscribed.
    refused = {path: client.get(path) for path in GUARDED}
    # The revision the sync returned rides along, as the example's return page keeps it:
    # without it the guard may ask before the service has applied the checkout.
    client.cookies["caixa_revision"] = str(stack.subscribe(pk, billing))
    passed = {path: client.get(path) for path in GUARDED}

    # Assert
    for path, response in refused.items():
        assert response.status_code == 403, path
        assert body(response) == {
            "error": "forbidden",
            "feature": "reports",
            "message": "access to 'reports' denied: no subscription",
            "reason": AccessReason.NO_SUBSCRIPTION.value,
            "status": "SUBSCRIPTION_STATUS_UNSPECIFIED",
        }, path
    for path, response in passed.items():
        assert response.status_code == 200, (path, response.content)
        assert body(response)["reason"] == AccessReason.TRIALING.value, path
        assert body(response)["seats"] == 1, path


def test_the_middleware_leaves_unmapped_and_unknown_paths_alone(client):
    assert client.get("/").status_code == 200, "unmapped: no user needed"
    assert client.get("/no-such-page/").status_code == 404, "unknown: the router's 404"


def test_a_feature_outside_the_plan_is_refused_with_that_reason(client, stack, billing, user_id, settings):
    # Arrange: the middleware maps /export/ to a feature the plan does not grant.
    pk = signed_in(client, user_id)
    client.cookies["caixa_revision"] = str(stack.subscribe(pk, billing))
    settings.CAIXA = {**settings.CAIXA, "FEATURES": {"reports": "reports", "/export/": "exports"}}

    # Act
    response = client.get("/export/")

    # Assert
    assert response.status_code == 403
    assert body(response)["reason"] == AccessReason.FEATURE_NOT_IN_PLAN.value


def test_while_the_service_cannot_be_asked_closed_routes_answer_503_and_open_ones_pass_degraded(
    client, user_id, settings
):
    # Arrange
    signed_in(client, user_id)
    settings.CAIXA = {**settings.CAIXA, "ENTITLEMENT_URLS": f"http://127.0.0.1:{services.free_port()}"}

    # Act
    closed = client.get("/reports/")
    drf = client.get("/api/reports/")
    open_ = client.get("/dashboard/")

    # Assert
    assert (closed.status_code, body(closed)["error"]) == (503, "unavailable")
    assert (drf.status_code, body(drf)["error"]) == (503, "unavailable")
    assert open_.status_code == 200
    assert body(open_) == {
        "page": "dashboard",
        "reason": AccessReason.UNSPECIFIED.value,
        "degraded": True,
        "seats": 0,
    }


def test_a_refused_check_answers_500_even_where_the_route_fails_open_and_is_logged_once(
    client, user_id, settings, caplog
):
    # Arrange: a token the service does not know.
    signed_in(client, user_id)
    settings.CAIXA = {**settings.CAIXA, "TOKEN": "not-a-token"}

    # Act
    with caplog.at_level(logging.DEBUG, logger="caixa_client.guard"):
        answers = [client.get("/dashboard/") for _ in range(3)]

    # Assert
    assert [(a.status_code, body(a)["error"]) for a in answers] == [(500, "internal")] * 3
    errors = [r for r in caplog.records if r.name == "caixa_client.guard" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused" in errors[0].getMessage()
    assert all("not-a-token" not in r.getMessage() for r in caplog.records), "no token in the logs"


def test_the_revision_a_request_carries_is_waited_for(client, stack, billing, user_id):
    # Arrange: subscribed; one request carries the revision the sync returned, one a
    # revision no write has made yet.
    pk = signed_in(client, user_id)
    revision = stack.subscribe(pk, billing)

    # Act
    client.cookies["caixa_revision"] = str(revision)
    held = client.get("/reports/")
    client.cookies["caixa_revision"] = str(revision + 1)
    ahead = client.get("/reports/")

    # Assert
    assert held.status_code == 200
    assert ahead.status_code == 503, "nobody holds it: fail closed"


def test_a_feature_name_the_service_would_refuse_is_refused_when_the_view_is_decorated(django_project):
    from django.core.exceptions import ImproperlyConfigured

    from caixa_client.django import require_feature
    from caixa_client.drf import HasFeature

    with pytest.raises(ImproperlyConfigured, match="Reports!"):
        require_feature("Reports!")
    with pytest.raises(ImproperlyConfigured, match="invalid feature"):
        HasFeature("x" * 129)


def test_the_example_checkout_flow_subscribes_and_reads_its_write(client, stack, user_id):
    # Arrange
    signed_in(client, user_id)

    # Act: /subscribe/ sends the user to checkout; the emulator completes it; the success
    # page syncs, stores the revision and sends the user on to the report.
    to_checkout = client.get("/subscribe/")
    session_id = to_checkout["Location"].rstrip("/").split("/")[-1]
    stack.stripe(f"/_emulator/checkout/sessions/{session_id}/complete", {})
    back = client.get("/success/", {"session_id": session_id})
    report = client.get(back["Location"])

    # Assert
    assert to_checkout.status_code == 302 and session_id.startswith("cs_"), to_checkout["Location"]
    assert back.status_code == 302 and int(back.cookies["caixa_revision"].value) > 0
    assert (report.status_code, body(report)["reason"]) == (200, AccessReason.TRIALING.value)
