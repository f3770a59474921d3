"""The market data jobs: concurrent collection in real workers, and retention."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult

from marketdata.models import BalanceSnapshot, Candle, Exchange, Market, Ticker, Watchlist
from marketdata.simulator import SimulatedExchange
from project.kernel.scheduling import get_scheduler
from strategies.models import StrategyRun
from strategies.selectors import active_strategy_feeds
from strategies.services import strategy_start
from tasks.marketdata import collect_crypto_data, collect_due_candles, update_exchange_symbols
from tasks.retention import data_retention_apply
from tests.factories import ExchangeAccountFactory, MarketFactory, StrategyFactory
from tests.processes import ManagedProcess

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_collections_in_worker_processes_write_no_duplicates(
    celery_worker: ManagedProcess, exchange: Exchange, simulator: SimulatedExchange
) -> None:
    btc = exchange.markets.get(symbol="BTC/USD")
    eth = exchange.markets.get(symbol="ETH/USD")
    Watchlist.objects.create(market=btc, timeframe="1m")
    StrategyFactory(market=eth, timeframe="1m", is_active=True)

    results = [collect_crypto_data.delay(), collect_crypto_data.delay()]
    results += [collect_due_candles.delay(), collect_due_candles.delay()]
    summaries = [r.get(timeout=120) for r in results]

    assert [r["errors"] for s in summaries for r in s.values() if r["errors"]] == []
    for market in (btc, eth):
        times = list(
            Candle.objects.filter(market=market, timeframe="1m")
            .order_by("open_time")
            .values_list("open_time", flat=True)
        )
        assert len(times) >= 500
        assert len(set(times)) == len(times)
        assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(minutes=1)}
    # The watchlist job leaves the strategy's series to the due-candle job, which asks for
    # it only while a closed candle is missing: at most once per job, never from both.
    assert len(simulator.requests("/v2/ohlc/btcusd/")) == 2
    assert len(simulator.requests("/v2/ohlc/ethusd/")) in (1, 2)


@pytest.mark.django_db
def test_active_strategies_feeds_are_their_market_and_timeframe() -> None:
    active = StrategyFactory(timeframe="15m", is_active=True)
    StrategyFactory(timeframe="1h", is_active=False)

    assert active_strategy_feeds() == {(active.market_id, "15m")}


def rows_aged(now: datetime) -> None:
    """Candles, tickers, runs, snapshots and task results, each this many days old."""
    market: Market = MarketFactory()
    price = {f: Decimal(1) for f in ("open", "high", "low", "close", "volume")}
    for days in (31, 32, 33, 29, 1):
        Candle.objects.create(
            market=market, timeframe="1m", open_time=now - timedelta(days), **price
        )
    Candle.objects.create(market=market, timeframe="1h", open_time=now - timedelta(999), **price)
    for days in (8, 6):
        Ticker.objects.create(market=market, time=now - timedelta(days), last=Decimal(1))
    strategy = StrategyFactory(market=market)
    for days, status in ((91, "succeeded"), (92, "failed"), (93, "running"), (89, "succeeded")):
        StrategyRun.objects.create(
            strategy=strategy, scheduled_tick=now - timedelta(days), status=status
        )
    account = ExchangeAccountFactory(exchange=market.exchange)
    for days in (366, 364):
        BalanceSnapshot.objects.create(
            account=account, asset="BTC", free=1, used=0, total=1, taken_at=now - timedelta(days)
        )
    for n, days in enumerate((15, 13)):
        TaskResult.objects.create(task_id=f"t{n}", status="SUCCESS")
        TaskResult.objects.filter(task_id=f"t{n}").update(date_done=now - timedelta(days))


@pytest.mark.django_db
def test_cleanup_deletes_exactly_what_is_past_retention(settings: Settings) -> None:
    settings.RETENTION_CANDLE_DAYS = {"1m": 30, "1h": 0}
    settings.RETENTION_TICKER_DAYS = 7
    settings.RETENTION_STRATEGY_RUN_DAYS = 90
    settings.RETENTION_BALANCE_SNAPSHOT_DAYS = 365
    settings.RETENTION_TASK_RESULT_DAYS = 14
    settings.RETENTION_BATCH_SIZE = 2
    now = timezone.now()
    rows_aged(now)

    report = data_retention_apply(now=now)

    assert report == {
        "candles_1m": 3,
        "tickers": 1,
        "balance_snapshots": 1,
        "strategy_runs": 2,
        "task_results": 1,
        "firings": 0,
    }
    kept_1m = Candle.objects.filter(timeframe="1m").values_list("open_time", flat=True)
    assert sorted(kept_1m) == [now - timedelta(29), now - timedelta(1)]
    assert Candle.objects.filter(timeframe="1h").count() == 1
    assert set(StrategyRun.objects.values_list("status", flat=True)) == {"running", "succeeded"}
    assert StrategyRun.objects.count() == 2
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["t1"]


@pytest.mark.django_db
def test_delisting_pauses_the_strategies_on_that_market_and_removes_their_jobs(
    exchange: Exchange, simulator: SimulatedExchange
) -> None:
    eth = exchange.markets.get(symbol="ETH/USD")
    on_eth = strategy_start(strategy=StrategyFactory(market=eth))
    on_btc = strategy_start(strategy=StrategyFactory(market=exchange.markets.get(symbol="BTC/USD")))
    simulator.delist("ETH/USD")

    update_exchange_symbols()

    on_eth.refresh_from_db()
    on_btc.refresh_from_db()
    assert on_eth.is_active is False
    assert on_eth.paused_reason == f"market delisted: {eth}"
    assert get_scheduler().get_job(on_eth.job_id) is None
    assert on_btc.is_active is True
    assert get_scheduler().get_job(on_btc.job_id) is not None
