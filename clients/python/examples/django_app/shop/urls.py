"""The shop's routes."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/<str:username>/", views.login_as, name="login"),
    path("subscribe/", views.subscribe, name="subscribe"),
    path("success/", views.success, name="success"),
    path("reports/", views.reports, name="reports"),
    path("export/", views.export, name="export"),
    path("dashboard/", views.Dashboard.as_view(), name="dashboard"),
    path("api/reports/", views.ReportsApi.as_view(), name="api-reports"),
    path("api/async-reports/", views.async_reports, name="async-reports"),
]
