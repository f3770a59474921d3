"""The health endpoints: /health/ (public, no login) and /health/detail/ (staff). Every answer
is JSON, during a database outage too."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks.health.report import database_down_report, health_detail_report, report

NO_STORE = "no-cache, no-store, must-revalidate, private"


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    body = report()
    return JsonResponse(body, status=503 if body["status"] == "down" else 200)


@extend_schema(exclude=True)
class HealthDetailView(APIView):
    """GET /health/detail/: staff only (session or token), never cached."""

    permission_classes = [IsAdminUser]

    def get(self, request: Request) -> Response:
        body = health_detail_report()
        return self._answer(body, status=503 if body["status"] == "down" else 200)

    def handle_exception(self, exc: Exception) -> Response:
        """Authentication reads the database before `get` runs: with the database down it
        raises, and the answer is the JSON summary that says so, not an HTML 500."""
        if isinstance(exc, DatabaseError):
            return self._answer(database_down_report(exc), status=503)
        return super().handle_exception(exc)

    @staticmethod
    def _answer(body: dict[str, Any], status: int) -> Response:
        response = Response(body, status=status)
        response["Cache-Control"] = NO_STORE
        return response
