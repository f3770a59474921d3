"""URL routes: the dashboard at `/`, admin, health, the REST API with its schema and session
login, the strategy pages, metrics."""

from django.contrib import admin
from django.urls import include, path

from strategies.dashboard import dashboard
from tasks import metrics
from tasks.health.views import HealthDetailView, health_view

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("admin/", admin.site.urls),
    path("health/", health_view, name="health"),
    path("health/detail/", HealthDetailView.as_view(), name="health-detail"),
    # The browsable API's session login and logout (throttled like the admin's, by axes).
    path("api/auth/", include("rest_framework.urls")),
    path("api/", include("project.api_urls")),
    path("strategies/", include("strategies.urls")),
    path("metrics", metrics.metrics_view, name="metrics"),
]
