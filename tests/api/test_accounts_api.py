"""/api/accounts/: secrets go in and never come out; users reach only their own accounts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from django.db import connection

from marketdata.models import ExchangeAccount
from tests.factories import ExchangeAccountFactory, ExchangeFactory, StrategyFactory

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

KEY = "api-key-PLAIN-4471"
SECRET = "api-secret-PLAIN-9902"
PASSPHRASE = "passphrase-PLAIN-1234"
SECRETS = (KEY, SECRET, PASSPHRASE)


def create(api: APIClient, **changes: object) -> object:
    body = {
        "exchange": ExchangeFactory().pk,
        "label": "main",
        "api_key": KEY,
        "api_secret": SECRET,
        "api_passphrase": PASSPHRASE,
    }
    body.update(changes)
    return api.post("/api/accounts/", body, format="json")


def test_create_stores_encrypted_secrets_and_returns_none_of_them(api: APIClient) -> None:
    response = create(api)

    assert response.status_code == 201
    body = response.json()
    assert not {"api_key", "api_secret", "api_passphrase"} & set(body)
    assert all(secret not in response.content.decode() for secret in SECRETS)
    account = ExchangeAccount.objects.get(pk=body["id"])
    assert (account.api_key, account.api_secret, account.api_passphrase) == SECRETS
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key || api_secret || api_passphrase FROM marketdata_exchangeaccount"
            " WHERE id = %s",
            [account.pk],
        )
        raw = cursor.fetchone()[0]
    assert all(secret not in raw for secret in SECRETS)


def test_no_response_or_log_line_ever_contains_a_secret(
    api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = create(api)
    account_id = created.json()["id"]
    responses = [
        created,
        api.get("/api/accounts/"),
        api.get(f"/api/accounts/{account_id}/"),
        api.patch(f"/api/accounts/{account_id}/", {"label": "renamed"}, format="json"),
        api.put(
            f"/api/accounts/{account_id}/",
            {"label": "again", "api_secret": SECRET + "-2", "active": True},
            format="json",
        ),
        create(api, label="again"),  # a 400: duplicate label
        create(api, label="long", api_secret=SECRET * 40),  # a 400: too long
        api.get("/api/balances/"),
    ]

    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 400, 400, 200]
    for response in responses:
        assert all(secret not in response.content.decode() for secret in SECRETS)
    assert all(secret not in caplog.text for secret in SECRETS)


def test_update_with_blank_or_missing_secrets_keeps_them(
    api: APIClient, user: AbstractUser
) -> None:
    account = ExchangeAccountFactory(owner=user)
    stored = (account.api_key, account.api_secret)

    patched = api.patch(f"/api/accounts/{account.pk}/", {"api_key": ""}, format="json")
    put = api.put(f"/api/accounts/{account.pk}/", {"label": "x", "active": False}, format="json")

    assert (patched.status_code, put.status_code) == (200, 200)
    account.refresh_from_db()
    assert (account.api_key, account.api_secret) == stored
    assert (account.label, account.active) == ("x", False)


def test_new_credentials_through_the_api_clear_needs_attention(
    api: APIClient, user: AbstractUser
) -> None:
    account = ExchangeAccountFactory(owner=user, status="needs_attention", status_reason="401")

    response = api.patch(f"/api/accounts/{account.pk}/", {"api_key": "k2"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    account.refresh_from_db()
    assert account.api_key == "k2"


def test_validation_errors_are_400_by_field_and_save_nothing(api: APIClient) -> None:
    ExchangeFactory(name="off", enabled=False)

    missing = api.post("/api/accounts/", {"label": "a"}, format="json")
    disabled = create(api, exchange=ExchangeFactory(name="off").pk)
    first = create(api, label="dup")
    duplicate = create(api, label="dup")

    assert missing.status_code == 400
    assert set(missing.json()) == {"exchange", "api_key", "api_secret"}
    assert disabled.status_code == 400
    assert "exchange" in disabled.json()
    assert first.status_code == 201
    assert duplicate.status_code == 400
    assert duplicate.json() == {"label": ["You already have an exchange account with this label."]}
    assert ExchangeAccount.objects.count() == 1


def test_another_users_account_is_404_for_every_method(
    other_api: APIClient, user: AbstractUser
) -> None:
    account = ExchangeAccountFactory(owner=user, label="mine")
    url = f"/api/accounts/{account.pk}/"

    codes = [
        other_api.get(url).status_code,
        other_api.put(url, {"label": "stolen", "active": True}, format="json").status_code,
        other_api.patch(url, {"api_key": "evil"}, format="json").status_code,
        other_api.delete(url).status_code,
    ]

    assert codes == [404, 404, 404, 404]
    assert other_api.get("/api/accounts/").json()["count"] == 0
    account.refresh_from_db()
    assert account.label == "mine"


def test_staff_see_every_account_but_change_only_their_own(
    staff_api: APIClient, user: AbstractUser
) -> None:
    account = ExchangeAccountFactory(owner=user, label="theirs")

    listing = staff_api.get("/api/accounts/")
    read = staff_api.get(f"/api/accounts/{account.pk}/")
    write = staff_api.patch(f"/api/accounts/{account.pk}/", {"label": "x"}, format="json")

    assert listing.json()["count"] == 1
    assert read.status_code == 200
    assert read.json()["owner"] == user.username
    assert write.status_code == 403
    account.refresh_from_db()
    assert account.label == "theirs"


def test_deleting_an_account_a_strategy_uses_is_409(api: APIClient, user: AbstractUser) -> None:
    account = ExchangeAccountFactory(owner=user)
    StrategyFactory(owner=user, account=account, name="grid bot")
    free = ExchangeAccountFactory(owner=user)

    blocked = api.delete(f"/api/accounts/{account.pk}/")
    deleted = api.delete(f"/api/accounts/{free.pk}/")

    assert blocked.status_code == 409
    assert "grid bot" in blocked.json()["detail"]
    assert deleted.status_code == 204
    assert list(ExchangeAccount.objects.values_list("pk", flat=True)) == [account.pk]
