"""ReDoc asks nothing of another server: no web fonts, and the bundle without its CDN logo."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from project.redoc import OUTSIDE_LOGO

pytestmark = pytest.mark.django_db


def test_the_redoc_page_loads_only_addresses_of_this_server(client: Client) -> None:
    html = client.get("/api/redoc/", secure=True).content.decode()

    addresses = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert addresses == ["/api/redoc/redoc.standalone.js"]
    assert "fonts.googleapis" not in html
    assert "system-ui" in html


def test_the_served_bundle_has_no_outside_address_left(client: Client) -> None:
    response = client.get("/api/redoc/redoc.standalone.js", secure=True)
    bundle = b"".join(response.streaming_content) if response.streaming else response.content

    assert response.status_code == 200
    assert b"Redoc" in bundle
    assert OUTSIDE_LOGO.encode() not in bundle
    assert b"https://cdn." not in bundle
