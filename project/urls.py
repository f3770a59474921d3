"""URL routes: admin, health, the REST API with its schema, the strategy pages."""

from django.contrib import admin
from django.urls import include, path

from project import health
from tasks.views import HealthDetailView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health.health_view, name="health"),
    path("health/detail/", HealthDetailView.as_view(), name="health-detail"),
    path("api/", include("project.api_urls")),
    path("strategies/", include("strategies.urls")),
]
