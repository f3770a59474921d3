"""ReDoc fully offline: the sidecar's bundle without its one outside request, no web fonts.

drf-spectacular's ReDoc page links Google Fonts, and the bundle itself loads its sidebar logo
from cdn.redoc.ly; offline the page half-renders and online it tells a third party who reads
our docs. This page uses system fonts (REDOC_UI_SETTINGS) and a copy of the bundle with that
one address replaced.
"""

from __future__ import annotations

from functools import lru_cache

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from drf_spectacular.views import SpectacularRedocView

SIDECAR_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
OUTSIDE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@lru_cache(maxsize=1)
def offline_bundle() -> bytes:
    path = finders.find(SIDECAR_BUNDLE)
    if not isinstance(path, str):
        raise FileNotFoundError(SIDECAR_BUNDLE)
    with open(path, encoding="utf-8") as bundle:
        text = bundle.read()
    return text.replace(OUTSIDE_LOGO, EMPTY_IMAGE).encode()


def redoc_bundle(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(offline_bundle(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


class OfflineRedocView(SpectacularRedocView):
    template_name = "api/redoc.html"

    @staticmethod
    def _redoc_standalone() -> str:
        return reverse("api-redoc-bundle")
