"""Every error the API gives is JSON in one shape: `{"detail": ...}` or messages by field,
malformed, too deep and too large bodies and unknown paths included."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from django.http import HttpResponseServerError
from django.test import Client, RequestFactory

from project.middleware import ApiErrorMiddleware
from tests.factories import ExchangeAccountFactory, MarketFactory, StrategyFactory

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser
    from django.http import HttpResponse
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000


def post_raw(user_api: APIClient, path: str, body: str | bytes) -> HttpResponse:
    """A raw body, as a careless client sends it; Django's error pages are not raised."""
    client = Client(raise_request_exception=False)
    return client.post(path, body, content_type="application/json", **user_api._credentials)


def assert_detail(response: HttpResponse, status: int) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    return detail


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/strategies/", '{"name": "deep", "kind": "dca", "parameters": ' + DEEP + "}"),
        ("/api/accounts/", DEEP),
        ("/api/accounts/", "[" * 40 + "]" * 40),
    ],
)
def test_a_body_nested_too_deep_is_a_json_400(api: APIClient, path: str, body: str) -> None:
    response = post_raw(api, path, body)

    assert "nested deeper than 32 levels" in assert_detail(response, 400)


def test_a_nested_body_within_the_limit_reaches_validation(api: APIClient) -> None:
    response = post_raw(api, "/api/strategies/", '{"parameters": ' + "[" * 20 + "]" * 20 + "}")

    assert response.status_code == 400
    assert "parameters" in response.json()


def test_a_malformed_body_is_a_json_400(api: APIClient) -> None:
    response = post_raw(api, "/api/accounts/", "{not json")

    assert "JSON parse error" in assert_detail(response, 400)


def test_a_body_past_the_limit_is_a_json_413(api: APIClient) -> None:
    response = post_raw(api, "/api/accounts/", b"x" * (10 * 1024 * 1024))

    assert "at most 1048576 bytes" in assert_detail(response, 413)


def test_an_unknown_api_path_is_a_json_404(api: APIClient) -> None:
    response = Client().get("/api/no-such-thing/", **api._credentials)

    assert assert_detail(response, 404) == "Not Found."


def test_an_unknown_object_is_a_json_404(api: APIClient) -> None:
    response = api.delete("/api/accounts/999999/")

    assert_detail(response, 404)


@pytest.mark.parametrize("page_size", ["true", "0", "-1", "1001", "1.5", ""])
def test_a_bad_page_size_is_refused(api: APIClient, page_size: str) -> None:
    response = api.get(f"/api/strategies/?page_size={page_size}")

    assert response.status_code == 400
    assert response.json() == {"page_size": ["must be a whole number 1-1000"]}


def test_a_good_page_size_is_used(api: APIClient, user: AbstractUser) -> None:
    market = MarketFactory()
    for _ in range(3):
        StrategyFactory(owner=user, market=market)

    response = api.get("/api/strategies/?page_size=2")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 2


def test_a_bad_page_size_on_a_cursor_list_is_refused(api: APIClient, user: AbstractUser) -> None:
    strategy = StrategyFactory(owner=user)

    response = api.get(f"/api/strategies/{strategy.pk}/runs/?page_size=true")

    assert response.status_code == 400
    assert "page_size" in response.json()


def test_a_delete_the_object_s_state_refuses_is_a_409_with_the_reason(
    api: APIClient, user: AbstractUser
) -> None:
    account = ExchangeAccountFactory(owner=user)
    StrategyFactory(owner=user, account=account, market=MarketFactory(exchange=account.exchange))

    response = api.delete(f"/api/accounts/{account.pk}/")

    assert "used by strategies" in assert_detail(response, 409)


def test_django_s_html_error_pages_under_api_become_json_and_elsewhere_stay() -> None:
    crash = ApiErrorMiddleware(lambda request: HttpResponseServerError("<h1>Server Error</h1>"))

    api_crash = crash(RequestFactory().get("/api/strategies/"))
    admin_crash = crash(RequestFactory().get("/admin/"))

    assert api_crash.status_code == 500
    assert json.loads(api_crash.content) == {"detail": "Internal Server Error."}
    assert admin_crash.content == b"<h1>Server Error</h1>"
