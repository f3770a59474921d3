"""The recovery of runs no process holds and of unconfirmed live orders, in-process against
the real database and the simulated exchange (through real ccxt)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.utils import timezone

from marketdata import exchanges
from marketdata.models import Exchange, ExchangeAccount, Market
from marketdata.simulator import SimulatedExchange
from project.kernel.locks import LockPurpose, lock_key
from strategies.execution import strategy_execute
from strategies.models import Order, Strategy, StrategyRun
from strategies.orders import client_order_id
from strategies.recovery import runs_recover
from tests.factories import StrategyFactory
from tests.processes import database_url
from tests.strategies.helpers import add_candles, place_at_exchange, tick

pytestmark = pytest.mark.django_db

Status = StrategyRun.Status
LONG_AGO = timedelta(hours=1)


@pytest.fixture
def btc(exchange: Exchange) -> Market:
    market = exchange.markets.get(symbol="BTC/USD")
    add_candles(market, [100, 100])
    return market


@pytest.fixture
def live(btc: Market, account: ExchangeAccount) -> Strategy:
    return StrategyFactory(
        market=btc,
        kind="dca",
        mode=Strategy.Mode.LIVE,
        account=account,
        parameters={"quote_amount": "100"},
    )


def lost_run(strategy: Strategy, *, hours_ago: int = 1, with_order: bool = True) -> StrategyRun:
    """A run left `running` (no process holds its lease), with its order written and `new`."""
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick(hours_ago))
    StrategyRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - LONG_AGO)
    if with_order:
        Order.objects.create(
            strategy=strategy,
            run=run,
            mode=strategy.mode,
            side=Order.Side.BUY,
            amount=Decimal("0.002"),
            client_order_id=client_order_id(strategy_id=strategy.pk, tick=run.scheduled_tick),
        )
    return run


@pytest.fixture
def held() -> Iterator[psycopg.Connection]:
    """Another session: its leases are held by a live process."""
    with psycopg.connect(database_url(), autocommit=True) as other:
        yield other


def test_the_sweep_records_a_lost_runs_order_as_the_exchange_has_it(
    live: Strategy, account: ExchangeAccount
) -> None:
    run = lost_run(live)
    order = run.orders.get()
    place_at_exchange(order, account)

    recovered = runs_recover()

    run.refresh_from_db()
    order.refresh_from_db()
    at_exchange = exchanges.fetch_order_by_client_id(
        account=account, symbol="BTC/USD", client_order_id=order.client_order_id
    )
    assert recovered.runs == 1
    assert (run.status, run.signal) == (Status.SUCCEEDED, "buy")
    assert order.status == Order.Status.FILLED
    assert order.exchange_order_id == at_exchange.exchange_order_id
    assert (order.filled_amount, order.fee) == (at_exchange.filled, at_exchange.fee)


def test_a_lost_order_the_exchange_does_not_know_fails_the_run_and_stays_new_while_young(
    live: Strategy, simulator: SimulatedExchange
) -> None:
    run = lost_run(live)

    runs_recover()

    run.refresh_from_db()
    assert run.status == Status.FAILED
    assert run.error_class == "Abandoned"
    assert run.error_message.endswith("is unconfirmed")
    assert run.orders.get().status == Order.Status.NEW
    assert not simulator.requests("/v2/buy/")  # looked up, never sent late


def test_an_unknown_order_older_than_the_hard_limit_is_rejected_as_never_sent(
    live: Strategy,
) -> None:
    run = lost_run(live)
    order = run.orders.get()
    runs_recover()
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - LONG_AGO)

    recovered = runs_recover()

    order.refresh_from_db()
    assert recovered.orders == 1
    assert order.status == Order.Status.REJECTED
    assert order.error_message.startswith("never reached the exchange")


def test_the_sweep_leaves_a_run_whose_lease_a_live_process_holds(
    live: Strategy, held: psycopg.Connection
) -> None:
    run = lost_run(live)
    held.execute("SELECT pg_advisory_lock(%s, %s)", lock_key(LockPurpose.RUN_LEASE, run.pk))

    recovered = runs_recover()

    run.refresh_from_db()
    assert recovered.runs == 0
    assert run.status == Status.RUNNING


def test_the_next_tick_settles_a_lost_run_at_once_and_runs_instead_of_skipping(
    live: Strategy, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    run = lost_run(live)
    StrategyRun.objects.filter(pk=run.pk).update(started_at=timezone.now())  # just lost
    place_at_exchange(run.orders.get(), account)

    after = strategy_execute(strategy_id=live.pk, scheduled_tick=tick())

    run.refresh_from_db()
    assert after.status == Status.SUCCEEDED
    assert run.status == Status.SUCCEEDED
    assert set(Order.objects.filter(strategy=live).values_list("status", flat=True)) == {
        Order.Status.FILLED
    }
    assert len(simulator.requests("/v2/buy/")) == 2


def test_a_lost_paper_run_without_an_order_fails_with_the_reason_and_is_not_decided_late(
    btc: Market,
) -> None:
    paper = StrategyFactory(market=btc, kind="dca", parameters={"quote_amount": "100"})
    run = lost_run(paper, with_order=False)

    after = strategy_execute(strategy_id=paper.pk, scheduled_tick=tick())

    run.refresh_from_db()
    assert after.status == Status.SUCCEEDED
    assert (run.status, run.error_class) == (Status.FAILED, "Abandoned")
    assert "before it placed an order" in run.error_message
    assert Order.objects.filter(run=run).count() == 0


def test_a_live_run_reconciles_an_unconfirmed_order_of_its_strategy_before_it_decides(
    live: Strategy, account: ExchangeAccount
) -> None:
    earlier = lost_run(live, hours_ago=2)
    StrategyRun.objects.filter(pk=earlier.pk).update(status=Status.FAILED)  # OrderUnconfirmed
    place_at_exchange(earlier.orders.get(), account)

    strategy_execute(strategy_id=live.pk, scheduled_tick=tick())

    assert earlier.orders.get().status == Order.Status.FILLED


def test_a_redelivery_without_a_tick_finds_its_run_by_task_id(live: Strategy) -> None:
    run = lost_run(live, hours_ago=3, with_order=False)
    StrategyRun.objects.filter(pk=run.pk).update(celery_task_id="lost-task")

    again = strategy_execute(strategy_id=live.pk, task_id="lost-task")

    assert again.pk == run.pk
    assert StrategyRun.objects.filter(strategy=live).count() == 1
