"""Balance sync through real ccxt against the simulator: snapshots, auth failures, isolation."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from celery.signals import before_task_publish

from marketdata.accounts import balances_sync, balances_sync_all
from marketdata.models import BalanceSnapshot, Exchange, ExchangeAccount
from marketdata.simulator import SimulatedExchange
from tasks.accounts import sync_user_balances
from tests.factories import ExchangeAccountFactory
from tests.processes import ManagedProcess


@pytest.mark.django_db
def test_sync_stores_a_snapshot_of_every_asset(account: ExchangeAccount) -> None:
    outcome = balances_sync(account_id=account.pk)

    snapshots = {s.asset: s for s in BalanceSnapshot.objects.filter(account=account)}
    assert outcome == "synced"
    assert snapshots["USD"].total == Decimal(100000)
    assert snapshots["BTC"].free == Decimal(2)
    assert len({s.taken_at for s in snapshots.values()}) == 1


@pytest.mark.django_db
def test_refused_credentials_mark_the_account_and_stop_further_requests(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    bad = ExchangeAccountFactory(exchange=exchange, api_key="key-1", api_secret="wrong-secret")

    first = balances_sync(account_id=bad.pk)
    second = balances_sync(account_id=bad.pk)

    bad.refresh_from_db()
    assert (first, second) == ("needs_attention", "skipped")
    assert bad.status == ExchangeAccount.Status.NEEDS_ATTENTION
    assert bad.status_reason
    assert "wrong-secret" not in bad.status_reason
    assert len(simulator.requests("/v2/account_balances/")) == 1
    assert not BalanceSnapshot.objects.filter(account=bad).exists()


@pytest.mark.django_db
def test_one_refused_account_never_stops_the_others(
    exchange: Exchange, account: ExchangeAccount
) -> None:
    refused = ExchangeAccountFactory(exchange=exchange, api_key="unknown", api_secret="nope")

    outcomes = balances_sync_all()

    assert outcomes["synced"] == 1
    assert outcomes["needs_attention"] == 1
    assert BalanceSnapshot.objects.filter(account=account).exists()
    assert not BalanceSnapshot.objects.filter(account=refused).exists()


@pytest.mark.django_db
def test_an_unreachable_exchange_fails_its_accounts_and_spares_the_rest(
    exchange: Exchange, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    down = Exchange.objects.create(name="down", ccxt_id="bitstamp", api_url="http://127.0.0.1:9")
    ExchangeAccountFactory(exchange=down, api_key="key-down", api_secret="secret-down")

    outcomes = balances_sync_all()

    assert outcomes == {"synced": 1, "skipped": 0, "needs_attention": 0, "failed": 1}
    assert BalanceSnapshot.objects.filter(account=account).exists()
    down.refresh_from_db()
    exchange.refresh_from_db()
    assert down.last_error.startswith("balances: TemporaryExchangeError: NetworkError")
    assert "\n" not in down.last_error
    assert exchange.last_success_at is not None


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_worker_syncs_balances_from_a_message_that_carries_no_secret(
    celery_worker: ManagedProcess, account: ExchangeAccount
) -> None:
    published: list[str] = []

    def capture(body: object, headers: dict, **kwargs: object) -> None:
        published.append(json.dumps([body, headers], default=str))

    before_task_publish.connect(capture, weak=False)
    try:
        result = sync_user_balances.delay(account.pk)
        outcome = result.get(timeout=60)
    finally:
        before_task_publish.disconnect(capture)

    assert outcome == "synced"
    assert BalanceSnapshot.objects.filter(account=account, asset="USD").exists()
    assert published
    assert all(account.api_key not in m and account.api_secret not in m for m in published)
