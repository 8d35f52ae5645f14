"""``@require_feature("reports")`` on a function view, a class-based view, or
``dispatch``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import JsonResponse

from . import settings as caixa_settings

View = TypeVar("View", bound=Callable[..., Any])


def require_feature(feature: str, *, fail_open: bool | None = None) -> Callable[[View], View]:
    """Runs the view only for a user the entitlement service allows ``feature``.
    ``fail_open``: let users through while the service cannot be asked (default: the
    ``FAIL_OPEN`` setting, else closed)."""
    caixa_settings.checked(feature)

    def decorate(view: View) -> View:
        if inspect.isclass(view):
            view.dispatch = _wrap(view.dispatch, feature, fail_open, method=True)  # type: ignore[attr-defined]
            return view
        return _wrap(view, feature, fail_open, method=False)  # type: ignore[return-value]

    return decorate


def _wrap(view: Callable[..., Any], feature: str, fail_open: bool | None, method: bool) -> Callable[..., Any]:
    def request_of(args: tuple[Any, ...]) -> Any:
        return args[1] if method else args[0]

    if inspect.iscoroutinefunction(view):
        from asgiref.sync import sync_to_async

        @functools.wraps(view)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            # Where the request's other sync work runs: the user's session and its
            # database connection live there.
            decided = await sync_to_async(caixa_settings.verdict)(request_of(args), feature, fail_open)
            if decided.status:
                return JsonResponse(decided.body, status=decided.status)
            return await view(*args, **kwargs)

        return guarded_async

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        decided = caixa_settings.verdict(request_of(args), feature, fail_open)
        if decided.status:
            return JsonResponse(decided.body, status=decided.status)
        return view(*args, **kwargs)

    return guarded
