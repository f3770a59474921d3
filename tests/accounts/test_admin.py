"""Account admin: secrets are write-only; blank keeps them; balances are read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from marketdata.models import BalanceSnapshot, ExchangeAccount
from tests.factories import ExchangeAccountFactory, ExchangeFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]


CHANGE_URL = "/admin/marketdata/exchangeaccount/{}/change/"


def form_data(account: ExchangeAccount, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "owner": account.owner_id,
        "exchange": account.exchange_id,
        "label": account.label,
        "api_key": "",
        "api_secret": "",
        "api_passphrase": "",
        "active": "on",
    }
    data.update(changes)
    return data


def test_change_page_never_shows_the_stored_secrets(admin_client: Client) -> None:
    account = ExchangeAccountFactory(api_passphrase="pass-phrase-x1")

    page = admin_client.get(CHANGE_URL.format(account.pk)).content.decode()
    listing = admin_client.get("/admin/marketdata/exchangeaccount/").content.decode()

    assert 'name="api_secret"' in page
    assert 'type="password"' in page
    for secret in (account.api_key, account.api_secret, account.api_passphrase):
        assert secret not in page
        assert secret not in listing


def test_blank_secret_inputs_keep_the_stored_secrets(admin_client: Client) -> None:
    account = ExchangeAccountFactory()
    key, secret = account.api_key, account.api_secret

    response = admin_client.post(CHANGE_URL.format(account.pk), form_data(account, label="new"))

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.label, account.api_key, account.api_secret) == ("new", key, secret)


def test_new_secret_is_stored_and_clears_needs_attention(admin_client: Client) -> None:
    account = ExchangeAccountFactory(status="needs_attention", status_reason="refused")

    response = admin_client.post(
        CHANGE_URL.format(account.pk), form_data(account, api_secret="fresh-secret-77")
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.api_secret == "fresh-secret-77"
    assert account.status == ExchangeAccount.Status.OK


def test_adding_requires_key_and_secret_and_stores_them(admin_client: Client) -> None:
    owner, exchange = UserFactory(), ExchangeFactory()
    data = {"owner": owner.pk, "exchange": exchange.pk, "label": "acc", "active": "on"}

    missing = admin_client.post("/admin/marketdata/exchangeaccount/add/", data)
    added = admin_client.post(
        "/admin/marketdata/exchangeaccount/add/",
        {**data, "api_key": "k-added-1", "api_secret": "s-added-1"},
    )

    assert missing.status_code == 200  # the form again, with errors
    assert "This field is required" in missing.content.decode()
    assert added.status_code == 302
    account = ExchangeAccount.objects.get(owner=owner)
    assert (account.api_key, account.api_secret) == ("k-added-1", "s-added-1")


def test_balance_snapshots_are_read_only_in_the_admin(admin_client: Client) -> None:
    snapshot = BalanceSnapshot.objects.create(
        account=ExchangeAccountFactory(),
        asset="BTC",
        free=1,
        used=0,
        total=1,
        taken_at="2026-01-01T00:00:00Z",
    )

    listing = admin_client.get("/admin/marketdata/balancesnapshot/")
    add = admin_client.get("/admin/marketdata/balancesnapshot/add/")
    change = admin_client.post(
        f"/admin/marketdata/balancesnapshot/{snapshot.pk}/change/", {"asset": "ETH"}
    )

    assert listing.status_code == 200
    assert "BTC" in listing.content.decode()
    assert add.status_code == 403
    assert change.status_code == 403
    snapshot.refresh_from_db()
    assert snapshot.asset == "BTC"
