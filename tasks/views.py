"""HTTP views of the tasks app: the detailed health report for staff."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks.health import health_detail_report


@extend_schema(exclude=True)
class HealthDetailView(APIView):
    """GET /health/detail/: staff only (session or token), never cached."""

    permission_classes = [IsAdminUser]

    def get(self, request: Request) -> Response:
        report = health_detail_report()
        response = Response(report, status=503 if report["status"] == "down" else 200)
        response["Cache-Control"] = "no-cache, no-store, must-revalidate, private"
        return response
