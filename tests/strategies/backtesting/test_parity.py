"""Parity with live: paper strategies run tick by tick through the real beat, a real worker and
the simulator; a backtest of the same period on the candles collected trades identically.

The candles are collected through the gateway from the simulator before the run, a few
minutes ahead (its clock advanced): a run reads only the candles closed by its tick
(`selectors.newest_closed_open`), so the ones ahead stay unseen until their close, and no run
waits for a collection (which at 2-second ticks would make the next tick overlap it).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.conf import settings as django_settings

import tests.strategies.plugins  # noqa: F401 - the test kinds, here and in the worker
from marketdata.models import Exchange, Market
from project.kernel.scheduling import IntervalTrigger
from strategies.backtesting.candles import candles_load
from strategies.backtesting.engine import BacktestSpec, backtest_run, candles_required
from strategies.backtesting.fingerprint import trades_hash
from strategies.backtesting.history import candles_backfill
from strategies.models import Order, Strategy, StrategyRun
from strategies.ordering import MarketRules
from strategies.services import strategy_stop
from strategies.trades import Fill
from tests.factories import StrategyFactory
from tests.processes import start_beat, start_celery_worker, wait_for

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

    from marketdata.simulator import SimulatedExchange

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
EVERY = 2  # seconds between ticks
TICKS = 32
KINDS = [
    ("dca", {"quote_amount": "25"}),
    ("sma_crossover", {"fast": 1, "slow": 2, "quote_amount": "100"}),
    ("rsi_thresholds", {"period": 3, "oversold": "45", "overbought": "55", "quote_amount": "50"}),
    ("test_alternating", {"amount": "0.001"}),  # buys for a minute, then sells: round trips
]


def collect_ahead(market: Market, simulator: SimulatedExchange, settings: Settings) -> None:
    """The last 40 minutes of 1m candles and the next 5, through the gateway."""
    settings.MARKETDATA_MAX_CLOCK_SKEW_SECONDS = 900
    simulator.advance_clock(6 * 60)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    stored = candles_backfill(
        market_id=market.pk,
        timeframe="1m",
        start=now - timedelta(minutes=40),
        end=now + timedelta(minutes=5),
    )
    assert stored == 45


def live_fills(strategy: Strategy) -> list[Fill]:
    orders = Order.objects.filter(strategy=strategy, status=Order.Status.FILLED)
    return [
        Fill(o.run.scheduled_tick, o.side, o.filled_amount, o.average_price, o.fee)
        for o in orders.select_related("run").order_by("run__scheduled_tick")
    ]


def backtest_of(strategy: Strategy, ticks: list[datetime]):
    spec = BacktestSpec(
        kind=strategy.kind,
        parameters=strategy.parameters,
        timeframe=strategy.timeframe,
        start=ticks[0],
        end=ticks[-1] + timedelta(seconds=1),
        trigger=IntervalTrigger(EVERY),
        capital=Decimal(10_000),  # a new paper position's balance
        fee_rate=django_settings.PAPER_FEE_RATE,
        max_position=strategy.max_position,
        max_orders_per_day=strategy.max_orders_per_day,
        rules=MarketRules.from_market(strategy.market),
    )
    candles = candles_load(
        market_id=strategy.market_id,
        timeframe=strategy.timeframe,
        start=spec.start,
        end=spec.end,
        warmup=candles_required(spec),
    )
    return backtest_run(spec, candles)


def test_a_backtest_of_a_live_paper_run_trades_identically(
    exchange: Exchange, simulator: SimulatedExchange, settings: Settings
) -> None:
    market = Market.objects.get(exchange=exchange, symbol="BTC/USD")
    collect_ahead(market, simulator, settings)
    strategies = [
        StrategyFactory(market=market, timeframe="1m", kind=kind, parameters=parameters,
                        interval_seconds=EVERY, max_orders_per_day=None)
        for kind, parameters in KINDS
    ]  # fmt: skip
    worker = start_celery_worker(concurrency=2)
    beat = start_beat()
    try:
        for strategy in strategies:
            wait_for(
                lambda s=strategy: StrategyRun.objects.filter(strategy=s).count() >= TICKS,
                timeout=180,
                what=f"{TICKS} runs of {strategy.kind}",
            )
        wait_for(
            lambda: Order.objects.filter(strategy=strategies[-1], side="sell").exists(),
            timeout=180,
            what="a sell after an even minute's buys (an odd minute after an even one)",
        )
        for strategy in strategies:
            strategy_stop(strategy=strategy)
        wait_for(
            lambda: not StrategyRun.objects.filter(status=StrategyRun.Status.RUNNING).exists(),
            what="the last runs to end",
        )
    finally:
        beat.stop()
        worker.stop()

    for strategy in strategies:
        runs = StrategyRun.objects.filter(strategy=strategy).order_by("scheduled_tick")
        ticks = list(runs.values_list("scheduled_tick", flat=True))
        assert len(ticks) >= TICKS
        assert {b - a for a, b in itertools.pairwise(ticks)} == {timedelta(seconds=EVERY)}
        assert not runs.filter(status=StrategyRun.Status.FAILED).exists()
        live = live_fills(strategy)

        backtest = backtest_of(strategy, ticks)

        assert backtest.fills == live, strategy.kind
        assert backtest.trades_hash == trades_hash(
            live, code=backtest.code_version, parameters=backtest.parameters
        )
    dca, alternating = live_fills(strategies[0]), live_fills(strategies[-1])
    assert len(dca) >= TICKS
    assert len({fill.price for fill in dca}) >= 2  # the tick's candle moved at least once
    assert {fill.side for fill in alternating} == {"buy", "sell"}
