"""Data as fresh as each strategy needs: series are collected right after their candle closes,
each once, and a 1m paper strategy, run by a real beat and worker, succeeds minute after minute."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketdata.models import Candle, Exchange, Watchlist
from marketdata.simulator import SimulatedExchange
from project.kernel.scheduling import CrontabTrigger, get_scheduler
from strategies.execution import strategy_execute
from strategies.models import Order, StrategyRun
from strategies.services import strategy_start
from tasks.marketdata import collect_crypto_data, collect_due_candles
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import ManagedProcess, start_beat, wait_for
from tests.strategies.helpers import add_candles


@pytest.mark.django_db
def test_due_collection_asks_once_per_series_and_not_again_before_its_next_close(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    btc, eth = (exchange.markets.get(symbol=s) for s in ("BTC/USD", "ETH/USD"))
    for market in (btc, btc, eth):  # two strategies share BTC/USD 1d
        StrategyFactory(market=market, timeframe="1d")

    first = collect_due_candles()
    asked_first = len(simulator.requests("/v2/ohlc/"))
    second = collect_due_candles()

    assert first[exchange.name]["feeds"] == 2
    assert first[exchange.name]["errors"] == []
    assert len(simulator.requests("/v2/ohlc/btcusd/")) == 1
    assert len(simulator.requests("/v2/ohlc/ethusd/")) == 1
    # The next daily candle closes at midnight: nothing is due, nobody is asked.
    assert second == {}
    assert len(simulator.requests("/v2/ohlc/")) == asked_first


@pytest.mark.django_db
def test_the_watchlist_job_leaves_strategy_series_to_the_due_job(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    btc, eth = (exchange.markets.get(symbol=s) for s in ("BTC/USD", "ETH/USD"))
    Watchlist.objects.create(market=btc, timeframe="1d")
    Watchlist.objects.create(market=eth, timeframe="1d")
    StrategyFactory(market=eth, timeframe="1d")

    summary = collect_crypto_data()

    assert summary[exchange.name]["feeds"] == 1
    assert simulator.requests("/v2/ohlc/ethusd/") == []
    assert Candle.objects.filter(market=btc, timeframe="1d").exists()


@pytest.mark.django_db
def test_a_1m_paper_run_whose_candle_never_comes_fills_at_the_previous_close(settings) -> None:
    # The run waits RUN_CANDLE_WAIT_SECONDS after the close for the candle that closed at its
    # tick (tests/strategies/test_tick_candle.py); once that is over (here at once), it takes
    # the newest candle it has: one timeframe old is neither stale data nor a stale price.
    settings.RUN_CANDLE_WAIT_SECONDS = 0
    market = MarketFactory()
    now = timezone.now()
    tick = now.replace(second=0, microsecond=0)
    add_candles(market, [Decimal(100)], timeframe="1m", ended_at=tick - timedelta(minutes=1))
    strategy = StrategyFactory(market=market, timeframe="1m", parameters={"quote_amount": "50"})

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick)

    assert run is not None
    assert (run.status, run.reason) == (StrategyRun.Status.SUCCEEDED, "")
    order = Order.objects.get(run=run)
    assert (order.average_price, order.amount) == (Decimal(100), Decimal("0.5"))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_1m_paper_strategy_succeeds_on_consecutive_minutes_with_real_beat_and_worker(
    celery_worker: ManagedProcess, exchange: Exchange, simulator: SimulatedExchange
) -> None:
    btc = exchange.markets.get(symbol="BTC/USD")
    scheduler = get_scheduler()
    scheduler.add_job(
        "collect_due_candles", "collect_due_candles", CrontabTrigger.parse("* * * * *", "UTC")
    )
    strategy = strategy_start(strategy=StrategyFactory(market=btc, timeframe="1m", is_active=False))
    # The backfill a running system already has; from here on the minute job keeps it fresh.
    collect_due_candles()
    beat = start_beat()
    try:

        def consecutive_successes() -> bool:
            ticks = sorted(
                StrategyRun.objects.filter(strategy=strategy, status="succeeded").values_list(
                    "scheduled_tick", flat=True
                )
            )
            return any(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(ticks))

        runs = StrategyRun.objects.filter(strategy=strategy).order_by("scheduled_tick")
        try:
            wait_for(consecutive_successes, timeout=300, what="two successful runs a minute apart")
        except AssertionError as error:
            seen = list(runs.values_list("scheduled_tick", "status", "reason", "error_message"))
            raise AssertionError(f"{error}; runs: {seen}") from None
    finally:
        beat.stop()

    runs = StrategyRun.objects.filter(strategy=strategy).exclude(status="running")
    assert set(runs.values_list("status", flat=True)) == {"succeeded"}
    assert Candle.objects.filter(market=btc, timeframe="1m", is_closed=True).count() >= 500
    # Each fill is the close of the candle that closed at its run's tick, the bar it is drawn
    # on: inside that bar's range, run after run.
    fills = Order.objects.filter(strategy=strategy, status="filled").select_related("run")
    assert fills.count() >= 2
    for order in fills:
        bar = Candle.objects.get(
            market=btc, timeframe="1m", open_time=order.run.scheduled_tick - timedelta(minutes=1)
        )
        assert order.average_price == bar.close
        assert bar.low <= order.average_price <= bar.high
