"""The guards' settings, read from ``settings.CAIXA``:

- ``ENTITLEMENT_URLS`` (required): a URL or a list, e.g. ``"http://entitlement:50052"``.
- ``TOKEN``, ``DEADLINE`` (seconds, default 0.5): as :class:`~caixa_client.EntitlementClient`.
- ``FAIL_OPEN``: features let through while the service cannot be asked (default none).
- ``USER_ID``: ``request -> user id or None`` (a callable or dotted path); default
  ``request.user.pk`` of an authenticated user.
- ``REVISION``: ``request -> revision or None``, to read your writes after a checkout
  (the revision ``sync_checkout_session`` returned, kept in a cookie say).
- ``FEATURES``: for :class:`~caixa_client.django.FeatureMiddleware`, URL names
  (``"reports"``, ``"app:reports"``) or path prefixes (``"/reports/"``) to features.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .._guard import Guard, Verdict, checked_feature, resolve, user_pk
from ..entitlement import EntitlementClient
from ..errors import ConfigurationError

_lock = threading.Lock()
_client: EntitlementClient | None = None


def caixa() -> dict[str, Any]:
    return getattr(settings, "CAIXA", {})


def client() -> EntitlementClient:
    """The process's one client, made from the settings at first use."""
    global _client
    if _client is not None:  # every guarded request comes here: no lock once made
        return _client
    with _lock:
        if _client is None:
            config = caixa()
            if "ENTITLEMENT_URLS" not in config:
                raise ImproperlyConfigured("settings.CAIXA['ENTITLEMENT_URLS'] is required by the caixa guards")
            try:
                _client = EntitlementClient(
                    config["ENTITLEMENT_URLS"], token=config.get("TOKEN"), deadline=config.get("DEADLINE", 0.5)
                )
            except ConfigurationError as error:
                raise ImproperlyConfigured(f"settings.CAIXA: {error}") from error
        return _client


_guards: dict[tuple[str, bool], Guard] = {}


def checked(feature: str) -> str:
    """``feature``, checked when a view is decorated or the middleware built: a name the
    service would refuse is a misconfiguration, said at once."""
    try:
        return checked_feature(feature)
    except ConfigurationError as error:
        raise ImproperlyConfigured(str(error)) from error


def guard(feature: str, fail_open: bool | None) -> Guard:
    """The guard for ``feature``; the fail mode given, else from ``FAIL_OPEN`` now."""
    if fail_open is None:
        fail_open = feature in caixa().get("FAIL_OPEN", ())
    key = (feature, fail_open)
    if key in _guards:
        return _guards[key]
    with _lock:
        if key not in _guards:
            _guards[key] = Guard(checked(feature), fail_open)
        return _guards[key]


def verdict(request: Any, feature: str, fail_open: bool | None) -> Verdict:
    """The guard's decision for ``request``; a pass leaves ``request.caixa_access``."""
    decided = guard(feature, fail_open).decide(client(), user_of(request), revision_of(request))
    if decided.status == 0:
        request.caixa_access = decided.access
    return decided


def user_of(request: Any) -> Any:
    read: Callable[[Any], Any] = resolve(caixa().get("USER_ID"), user_pk)  # type: ignore[assignment]
    return read(request)


def revision_of(request: Any) -> int | None:
    read = resolve(caixa().get("REVISION"))
    return read(request) if read else None


def _forget(setting: str, **_: Any) -> None:
    global _client
    if setting == "CAIXA":
        with _lock:
            if _client is not None:
                _client.close()
            _client = None


setting_changed.connect(_forget)
