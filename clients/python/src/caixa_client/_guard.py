"""The guard's decision, shared by the Django middleware, the decorator and the DRF
permission, answering as the Rust guard does:

| the service says | answer |
|---|---|
| allowed | the view runs, with the ``Access`` as ``request.caixa_access`` |
| denied | 403 ``{"error": "forbidden", "feature", "reason", "status", "message"}`` |
| no user on the request | 401 ``{"error": "unauthenticated", ...}`` |
| cannot be asked (``Unavailable``) | fail closed: 503; fail open: the view runs with ``Access.degraded_pass()`` |
| refuses the check (credentials, a rejected id) | 500 ``{"error": "internal", ...}`` whatever the fail mode |
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .entitlement import EntitlementClient
from .errors import CaixaError, ConfigurationError, Unavailable
from .types import Access

log = logging.getLogger("caixa_client.guard")

#: A feature key as the services accept it (empty: the paid app at all).
FEATURE = re.compile(r"[a-z0-9_.:-]{0,128}")


def checked_feature(feature: str) -> str:
    """``feature``, or ConfigurationError naming what is wrong with it."""
    if not isinstance(feature, str) or not FEATURE.fullmatch(feature):
        raise ConfigurationError(
            f"invalid feature {feature!r}: lowercase letters, digits, '_', '-', '.' and ':', at most 128"
        )
    return feature


@dataclass(frozen=True)
class Verdict:
    """Pass (``status`` 0, with the ``access`` to hand the view) or refuse with ``status``
    and the JSON ``body``."""

    status: int
    body: dict[str, Any] | None = None
    access: Access | None = None


NO_USER = Verdict(401, {"error": "unauthenticated", "message": "no user on the request"})
UNAVAILABLE = Verdict(503, {"error": "unavailable", "message": "access cannot be checked now; retry"})
BROKEN = Verdict(500, {"error": "internal", "message": "access cannot be checked: the check was refused"})


class Guard:
    """Decides for one feature with one fail mode."""

    def __init__(self, feature: str, fail_open: bool) -> None:
        self.feature = checked_feature(feature)
        self.fail_open = fail_open
        self._reported = False

    def decide(self, client: EntitlementClient, user_id: Any, revision: int | None = None) -> Verdict:
        if user_id is None or str(user_id) == "":
            return NO_USER
        if revision is not None:
            client = client.at_least_as_fresh(revision)
        try:
            access = client.check(str(user_id), self.feature)
        except Unavailable as error:
            log.warning("access to %r cannot be checked (%s); failing %s", self.feature, error, self.mode)
            return Verdict(0, access=Access.degraded_pass()) if self.fail_open else UNAVAILABLE
        except CaixaError as error:
            # A misconfiguration: loud once, then quiet, never a pass.
            (log.debug if self._reported else log.error)("access to %r: the check was refused: %s", self.feature, error)
            self._reported = True
            return BROKEN
        if access.allowed:
            return Verdict(0, access=access)
        message = f"access to {self.feature!r} denied: {access.explanation}"
        body = {
            "error": "forbidden",
            "feature": self.feature,
            "message": message,
            "reason": access.reason.value,
            "status": access.status.value,
        }
        return Verdict(403, body, access)

    @property
    def mode(self) -> str:
        return "open" if self.fail_open else "closed"


def user_pk(request: Any) -> Any:
    """The default user: ``request.user.pk`` when the user is authenticated."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def resolve(value: Any, default: Callable[..., Any] | None = None) -> Callable[..., Any] | None:
    """A callable given as itself or as a dotted path."""
    if value is None:
        return default
    if callable(value):
        return value
    from importlib import import_module

    module, _, name = str(value).rpartition(".")
    return getattr(import_module(module), name)
