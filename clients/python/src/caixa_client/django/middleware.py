"""``FeatureMiddleware``: the seed's access middleware, by feature. Add it after
``AuthenticationMiddleware``; ``settings.CAIXA["FEATURES"]`` maps URL names
(``"reports"``, or ``"app:reports"`` with a namespace) or path prefixes (starting with
``/``; the longest that matches wins) to features. Views it maps nothing to are left
alone; a path no URL matches still answers 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from . import settings as caixa_settings


class FeatureMiddleware:
    """Guards the mapped views before they run."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        features = caixa_settings.caixa().get("FEATURES", {})
        for feature in features.values():
            caixa_settings.checked(feature)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
        feature = self.feature_of(request)
        if feature is None:
            return None
        decided = caixa_settings.verdict(request, feature, None)
        return JsonResponse(decided.body, status=decided.status) if decided.status else None

    @staticmethod
    def feature_of(request: HttpRequest) -> str | None:
        features: dict[str, str] = caixa_settings.caixa().get("FEATURES", {})
        match = request.resolver_match
        for name in (match.view_name, match.url_name) if match else ():
            if name and name in features:
                return features[name]
        prefixes = [p for p in features if p.startswith("/") and request.path.startswith(p)]
        return features[max(prefixes, key=len)] if prefixes else None
