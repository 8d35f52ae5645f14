"""Django REST framework: ``permission_classes = [HasFeature("reports")]``. Answers as
the Django guards do (403 with the reason, 401 without a user, 503 or a degraded pass
while the service cannot be asked, 500 when it refuses the check) through DRF's own
exception handling, and leaves the answer as ``request.caixa_access``."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions

from .django import settings as caixa_settings


class _Refused(exceptions.APIException):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        # Not DRF's NotAuthenticated: that one turns into 403 without an authenticate header.
        self.status_code = status
        super().__init__(detail=body)


class HasFeature(permissions.BasePermission):
    """Allows a request whose user the entitlement service allows ``feature``. An
    instance stands in for a permission class: DRF calls it to get the permission."""

    def __init__(self, feature: str, *, fail_open: bool | None = None) -> None:
        self.feature = caixa_settings.checked(feature)
        self.fail_open = fail_open

    def __call__(self) -> HasFeature:
        return self

    def has_permission(self, request: Any, view: Any) -> bool:
        decided = caixa_settings.verdict(request, self.feature, self.fail_open)
        if decided.status:
            raise _Refused(decided.status, decided.body or {})
        return True
