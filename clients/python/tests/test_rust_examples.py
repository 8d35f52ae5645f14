"""The Rust client's examples (client/examples), run as their doc comments say, against
the services: the axum app with curl's requests, the tonic service with real grpcurl."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from test_grpcurl import grpcurl

import stack as services


@pytest.fixture(scope="module")
def subscribed(stack, billing, entitlement) -> str:
    user = "rust-example-user"
    revision = stack.subscribe(user, billing)
    assert entitlement.at_least_as_fresh(revision).check(user, "reports").allowed
    return user


def example(stack, name: str) -> str:
    """Starts ``name`` on a free port against the stack; its address."""
    address = f"127.0.0.1:{services.free_port()}"
    stack.spawn(
        name,
        [f"examples/{name}"],
        {"ENTITLEMENT_URL": stack.entitlement, "APP_ADDR": address, "ENTITLEMENT_TOKEN": services.TOKENS["web"]},
    )
    services.wait_for(f"{name} listens", lambda: (stack.folder / f"{name}.log").read_text().startswith("listening"))
    return address


def get(url: str, user: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"x-user": user} if user else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_axum_example_answers_as_its_docs_say(stack, subscribed):
    address = example(stack, "axum_app")

    assert get(f"http://{address}/reports", None)[0] == 401
    status, refusal = get(f"http://{address}/reports", "user-1")
    assert status == 403 and json.loads(refusal)["reason"] == "ACCESS_REASON_NO_SUBSCRIPTION"
    status, page = get(f"http://{address}/reports", subscribed)
    assert status == 200 and "Trialing" in page
    assert get(f"http://{address}/nowhere", subscribed)[0] == 404


def test_the_tonic_example_answers_grpcurl_as_its_docs_say(stack, subscribed):
    address = example(stack, "tonic_service")

    listed = grpcurl(address, "list")
    refused = grpcurl("-H", "x-user: user-1", address, "grpc.health.v1.Health/Check")
    served = grpcurl("-H", f"x-user: {subscribed}", address, "grpc.health.v1.Health/Check")

    assert listed.returncode == 0 and "grpc.health.v1.Health" in listed.stdout.split(), listed.stderr
    assert refused.returncode != 0 and "PermissionDenied" in refused.stderr, refused.stderr
    assert served.returncode == 0 and json.loads(served.stdout) == {"status": "SERVING"}, served.stderr
