"""GET /health/ against the real database and Redis, and with each one failing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.test.utils import override_settings

pytestmark = pytest.mark.django_db


def test_health_is_ok_with_real_database_and_broker(client: Client) -> None:
    response = client.get("/health/")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


def test_health_is_degraded_but_serving_when_the_broker_is_unreachable(client: Client) -> None:
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = client.get("/health/")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is False
    assert "ConnectionError" in body["checks"]["broker"]["detail"]


def test_health_is_down_with_503_when_the_database_fails(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection

    def refuse(*args: object, **kwargs: object) -> None:
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert "connection refused" in response.json()["checks"]["database"]["detail"]


def test_health_needs_no_login_and_is_never_cached(client: Client) -> None:
    response = client.get("/health/")

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
