"""A shop selling "reports" through caixa, guarded three ways: the middleware by URL
name, the decorator on views, and DRF's permission. Points at `cargo stack` unless the
environment says otherwise."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("SHOP_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Where the seed had its subscription middleware: after authentication.
    "caixa_client.django.FeatureMiddleware",
]
ROOT_URLCONF = "shop.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DATABASE", str(BASE_DIR / "shop.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

CAIXA = {
    "ENTITLEMENT_URLS": os.environ.get("CAIXA_ENTITLEMENT_URL", "http://127.0.0.1:50052"),
    "TOKEN": os.environ.get("CAIXA_TOKEN") or None,
    # The middleware's map: URL names (or path prefixes) to features.
    "FEATURES": {"reports": "reports"},
    # Features that let users through while the entitlement service cannot be asked.
    "FAIL_OPEN": ["app"],
    # Read your writes: the revision the success page stored after syncing the checkout.
    "REVISION": "shop.views.revision_from_cookie",
}
CAIXA_BILLING_URL = os.environ.get("CAIXA_BILLING_URL", "http://127.0.0.1:50051")
