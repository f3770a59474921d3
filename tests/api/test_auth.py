"""Every API endpoint refuses anonymous requests; the schema and docs are public."""

from __future__ import annotations

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.factories import ExchangeAccountFactory, MarketFactory

pytestmark = pytest.mark.django_db


def schema_operations() -> list[tuple[str, str]]:
    """Every (method, path) the OpenAPI schema lists: new endpoints are covered automatically."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_the_schema_lists_the_api() -> None:
    paths = {path for _, path in schema_operations()}

    assert {"/api/accounts/", "/api/balances/", "/api/candles/", "/api/markets/"} <= paths


@pytest.mark.parametrize(("method", "path"), schema_operations())
def test_anonymous_request_is_refused_with_401(method: str, path: str) -> None:
    account = ExchangeAccountFactory()
    market = MarketFactory()
    object_id = {"accounts": account.pk, "markets": market.pk, "exchanges": market.exchange_id}
    resource = path.split("/")[2]
    url = path.replace("{id}", str(object_id.get(resource, 1)))

    response = getattr(APIClient(), method)(url, {}, format="json")

    assert response.status_code == 401, (method, url, response.content)
    assert response["WWW-Authenticate"] == "Token"


def test_api_root_refuses_anonymous_requests() -> None:
    assert APIClient().get("/api/").status_code == 401


def test_bad_token_is_refused(db: None) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get("/api/exchanges/").status_code == 401


@pytest.mark.usefixtures("plain_static_files")  # Swagger UI's files are our static files
def test_schema_and_docs_need_no_login(client: Client) -> None:
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    assert docs.status_code == 200


def test_session_login_works_for_the_browser(client: Client) -> None:
    from tests.factories import UserFactory

    user = UserFactory()
    client.force_login(user)

    assert client.get("/api/exchanges/").status_code == 200
