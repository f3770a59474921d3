"""The API's errors that DRF's views never see (unknown paths, too large bodies, crashes) as
JSON in DRF's shape: `{"detail": "..."}`."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.response import Response

API_PREFIX = "/api/"
# HTML on purpose: the Swagger page and the browsable API's login form.
HTML_PREFIXES = ("/api/docs/", "/api/auth/")


class ApiErrorMiddleware:
    """Outermost: refuses an /api/ body past DATA_UPLOAD_MAX_MEMORY_SIZE with a 413 before
    anything reads it, and turns Django's HTML error pages under /api/ into JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request.path):
            return self.get_response(request)
        if declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return error_response(
                413,
                f"Request body too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            )
        response = self.get_response(request)
        if response.status_code >= 400 and not isinstance(response, Response):
            return error_response(response.status_code, f"{response.reason_phrase}.")
        return response


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIX) and not path.startswith(HTML_PREFIXES)


def declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def error_response(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)
