"""URL routes: admin, health, the REST API with its schema."""

from django.contrib import admin
from django.urls import include, path

from project import health
from tasks import health as health_detail
from tasks import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health.health_view, name="health"),
    path("health/detail/", health_detail.HealthDetailView.as_view(), name="health-detail"),
    path("api/", include("project.api_urls")),
    path("metrics", metrics.metrics_view, name="metrics"),
]
