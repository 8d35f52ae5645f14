"""Fixtures: the running stack (once per session), clients with the web caller's token,
and the example Django project set up against the stack."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from caixa_client import BillingClient, EntitlementClient

sys.path.insert(0, str(Path(__file__).parent))
import stack as services  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "django_app"
_users = itertools.count(1)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Stack]:
    running = services.start(tmp_path_factory.mktemp("stack"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def billing(stack: services.Stack) -> Iterator[BillingClient]:
    with BillingClient(stack.billing, token=services.TOKENS["web"]) as client:
        yield client


@pytest.fixture(scope="session")
def entitlement(stack: services.Stack) -> Iterator[EntitlementClient]:
    with EntitlementClient(stack.entitlement, token=services.TOKENS["web"], deadline=2.0) as client:
        yield client


@pytest.fixture
def user_id(request: pytest.FixtureRequest) -> str:
    """A user nobody else in the session uses."""
    return f"py-{request.node.name[:40]}-{next(_users)}"


@pytest.fixture(scope="session")
def django_project(stack: services.Stack) -> None:
    """The example project (clients/python/examples/django_app) against the stack, its
    database in memory and migrated."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "shop.settings",
            "CAIXA_ENTITLEMENT_URL": stack.entitlement,
            "CAIXA_BILLING_URL": stack.billing,
            "CAIXA_TOKEN": services.TOKENS["web"],
            "SHOP_DATABASE": ":memory:",
        }
    )
    sys.path.insert(0, str(EXAMPLE))
    import django
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()
    call_command("migrate", verbosity=0, interactive=False)


class _Settings:
    """Django settings changed for one test (``settings.CAIXA = …``), restored after."""

    def __init__(self) -> None:
        object.__setattr__(self, "_overrides", [])

    def __getattr__(self, name: str):
        from django.conf import settings

        return getattr(settings, name)

    def __setattr__(self, name: str, value) -> None:
        from django.test import override_settings

        override = override_settings(**{name: value})
        override.enable()
        self._overrides.append(override)

    def restore(self) -> None:
        for override in reversed(self._overrides):
            override.disable()


@pytest.fixture
def settings(django_project) -> Iterator[_Settings]:
    changed = _Settings()
    try:
        yield changed
    finally:
        changed.restore()
