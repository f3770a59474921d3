"""Swagger UI, ReDoc and the favicon come from our own server: nothing loads from a CDN."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+\.(?:js|css|png|ico))["']""")


@pytest.fixture
def own_server(settings: object, plain_static_files: None) -> Client:
    """WhiteNoise serving the apps' static files straight from their folders, as in DEBUG."""
    settings.WHITENOISE_USE_FINDERS = True  # type: ignore[attr-defined]
    return Client()  # a new client builds its middleware, WhiteNoise included, from these


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_api_docs_and_every_script_they_reference_are_served_by_us(
    own_server: Client, page: str
) -> None:
    html = own_server.get(page, secure=True).content.decode()
    assets = ASSET.findall(html)

    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        # Our static files, or ReDoc's bundle served by project.redoc without its CDN address.
        assert asset.startswith(("/static/", "/api/redoc/")), f"{asset} is not served by us"
        response = own_server.get(asset, secure=True)
        assert response.status_code == 200, asset
        assert b"".join(response.streaming_content) if response.streaming else response.content


def test_the_favicon_is_served_at_the_root(own_server: Client) -> None:
    response = own_server.get("/favicon.ico", secure=True)

    assert response.status_code == 200
    assert response["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
