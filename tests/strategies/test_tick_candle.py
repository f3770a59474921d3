"""A run decides on, and a paper order fills at the close of, the candle that closed at its
tick: the selector rule, and the wait for the collection that writes that candle."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from strategies.execution import strategy_execute
from strategies.models import Order, StrategyRun
from strategies.selectors import newest_closed_open, run_inputs
from tests.factories import MarketFactory, StrategyFactory
from tests.strategies.helpers import add_candles, tick


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "timeframe", "newest_open"),
    [
        ("2026-12-07 16:53:00", "1m", "2026-12-07 16:52:00"),  # the one closing at the tick
        ("2026-12-07 16:53:59.999999", "1m", "2026-12-07 16:52:00"),  # 16:53 still forming
        ("2026-12-07 12:00:00", "1h", "2026-12-07 11:00:00"),
        ("2026-12-07 12:30:00", "1h", "2026-12-07 11:00:00"),  # an interval tick off the grid
        ("2026-12-07 08:00:00", "4h", "2026-12-07 04:00:00"),
        ("2026-12-07 00:00:00", "1d", "2026-12-06 00:00:00"),
    ],
)
def test_a_decision_sees_closed_candles_only_the_one_closed_at_the_tick_included(
    moment: str, timeframe: str, newest_open: str
) -> None:
    assert newest_closed_open(tick=at(moment), timeframe=timeframe) == at(newest_open)


@pytest.mark.django_db
def test_run_inputs_leave_out_candles_closed_after_the_tick() -> None:
    market = MarketFactory()
    add_candles(market, [100, 110, 120, 130], ended_at=tick() + timedelta(hours=2))
    strategy = StrategyFactory(market=market, kind="dca")

    inputs = run_inputs(strategy=strategy, candles_required=10, tick=tick(), now=timezone.now())

    assert [bar.close for bar in inputs.bars] == [100, 110]
    assert inputs.bars[-1].open_time == tick() - timedelta(hours=1)
    assert (inputs.price.value, inputs.price.at) == (Decimal(110), tick())


@pytest.mark.django_db(transaction=True)
def test_a_run_at_the_close_waits_for_that_candle_and_fills_at_its_close(settings) -> None:
    # The run fires with collect_due_candles and goes first: the candle that closed at its
    # tick is written a moment later (here by another connection, after 1.5 s). The wait
    # outlasts the minute, so the test holds at any second of it.
    settings.RUN_CANDLE_WAIT_SECONDS = 120
    market = MarketFactory()
    minute = timezone.now().replace(second=0, microsecond=0)
    add_candles(market, [Decimal(100)], timeframe="1m", ended_at=minute - timedelta(minutes=1))
    strategy = StrategyFactory(market=market, timeframe="1m", parameters={"quote_amount": "60"})

    def collect() -> None:
        add_candles(market, [Decimal(120)], timeframe="1m", ended_at=minute)
        connection.close()

    writer = threading.Timer(1.5, collect)
    writer.start()
    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=minute)
    writer.join()

    assert (run.status, run.reason) == (StrategyRun.Status.SUCCEEDED, "")
    order = Order.objects.get(run=run)
    assert (order.average_price, order.amount) == (Decimal(120), Decimal("0.5"))


@pytest.mark.django_db
def test_a_late_run_does_not_wait_and_judges_what_it_has(settings) -> None:
    settings.RUN_CANDLE_WAIT_SECONDS = 50
    market = MarketFactory()
    add_candles(market, [100], ended_at=tick(hours_ago=3))
    strategy = StrategyFactory(market=market, kind="dca")
    started = timezone.now()

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(hours_ago=1))

    assert run.status == StrategyRun.Status.SKIPPED
    assert run.reason.startswith("stale market data")
    assert timezone.now() - started < timedelta(seconds=10)
