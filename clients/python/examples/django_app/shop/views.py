"""Views guarded by caixa. ``request.caixa_access`` is the entitlement service's answer."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views import View
from rest_framework.response import Response
from rest_framework.views import APIView

from caixa_client import BillingClient
from caixa_client.django import require_feature
from caixa_client.drf import HasFeature

REVISION_COOKIE = "caixa_revision"


def revision_from_cookie(request: HttpRequest) -> int | None:
    """The revision the success page stored, so the next check reads that write."""
    value = request.COOKIES.get(REVISION_COOKIE, "")
    return int(value) if value.isdigit() else None


def billing() -> BillingClient:
    return BillingClient(settings.CAIXA_BILLING_URL, token=settings.CAIXA["TOKEN"])


def answer(request: HttpRequest, what: str) -> JsonResponse:
    access = request.caixa_access
    # Seats bought (and `access.limit`, the plan's number on a feature) come with every
    # granted answer: a view enforcing a quota reads them here.
    return JsonResponse(
        {"page": what, "reason": access.reason.value, "degraded": access.degraded, "seats": access.seats}
    )


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("caixa example shop: /login/<name>/, /subscribe/, /reports/, /api/reports/\n")


def login_as(request: HttpRequest, username: str) -> HttpResponse:
    """Demo sign-in: no password. A real shop has its own authentication."""
    user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
    login(request, user)
    return HttpResponse(f"signed in as {username} (user id {user.pk})\n")


def subscribe(request: HttpRequest) -> HttpResponse:
    """To Stripe's checkout (the emulator's page under `cargo stack`)."""
    if not request.user.is_authenticated:
        return redirect("home")
    success = request.build_absolute_uri("/success/") + "?session_id={CHECKOUT_SESSION_ID}"
    with billing() as client:
        session = client.create_checkout_session(str(request.user.pk), request.user.email, success_url=success)
    return redirect(session.url)


def success(request: HttpRequest) -> HttpResponse:
    """Back from checkout: sync the session now rather than wait for the webhook, and
    keep its revision so the guard asks for an answer at least that fresh."""
    with billing() as client:
        synced = client.sync_checkout_session(request.GET.get("session_id", ""))
    response = redirect("reports")
    response.set_cookie(REVISION_COOKIE, str(synced.revision), samesite="Lax")
    return response


def reports(request: HttpRequest) -> JsonResponse:
    """Guarded by the middleware: CAIXA["FEATURES"] maps this URL name to "reports"."""
    return answer(request, "reports")


@require_feature("reports")
def export(request: HttpRequest) -> JsonResponse:
    return answer(request, "export")


@require_feature("app")
class Dashboard(View):
    """Fails open (CAIXA["FAIL_OPEN"]): while the service cannot be asked, users get in
    with a degraded answer."""

    def get(self, request: HttpRequest) -> JsonResponse:
        return answer(request, "dashboard")


class ReportsApi(APIView):
    permission_classes = [HasFeature("reports")]

    def get(self, request) -> Response:
        access = request.caixa_access
        return Response(
            {"page": "api-reports", "reason": access.reason.value, "degraded": access.degraded, "seats": access.seats}
        )


@require_feature("reports")
async def async_reports(request: HttpRequest) -> JsonResponse:
    return answer(request, "async-reports")
