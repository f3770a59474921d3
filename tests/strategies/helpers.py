"""Helpers of the strategy tests: candles on a market, the hourly tick grid, a worker on a
queue of its own, a live DCA strategy. Other test packages import them from here (conftest
keeps only fixtures)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone

from tests.processes import ManagedProcess, start_celery_worker

if TYPE_CHECKING:
    from marketdata.models import Candle, ExchangeAccount, Market
    from strategies.models import Order, Strategy, StrategyRun


def add_candles(
    market: Market,
    closes: list[Decimal | int | str],
    *,
    timeframe: str = "1h",
    ended_at: datetime | None = None,
) -> list[Candle]:
    """Closed candles with these closes, oldest first; the newest ends at `ended_at`
    (default: the latest timeframe boundary, i.e. fresh data)."""
    # Imported here: pytest loads this module before Django is set up.
    from marketdata.models import TIMEFRAME_DURATIONS, Candle

    duration = TIMEFRAME_DURATIONS[timeframe]
    if ended_at is None:
        now = timezone.now()
        ended_at = now - (now - datetime(2000, 1, 1, tzinfo=now.tzinfo)) % duration
    first_open = ended_at - duration * len(closes)
    return Candle.objects.bulk_create(
        Candle(
            market=market,
            timeframe=timeframe,
            open_time=first_open + duration * index,
            open=Decimal(close),
            high=Decimal(close),
            low=Decimal(close),
            close=Decimal(close),
            volume=Decimal(1),
            is_closed=True,
        )
        for index, close in enumerate(closes)
    )


def start_strategy_worker(concurrency: int, **env: str) -> tuple[ManagedProcess, str]:
    """A real worker with the test strategies loaded, on a queue of its own."""
    queue = f"strategies-{uuid.uuid4().hex[:8]}"
    worker = start_celery_worker(concurrency=concurrency, queues=queue, **env)
    return worker, queue


def tick(hours_ago: int = 0) -> datetime:
    """A tick on the hourly grid, `hours_ago` hours before the current one."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours_ago)


def live_dca(
    market: Market, account: ExchangeAccount, quote_amount: str = "10", **fields: object
) -> Strategy:
    """A live DCA strategy on the account. Its 10 quote a run buys 0.1 BTC at the candles' 100
    (the simulator's minimum cost is 10 USD): about 6,000 USD at the simulator's own price, of
    the test account's 100,000."""
    from strategies.models import Strategy
    from tests.factories import StrategyFactory

    return StrategyFactory(
        market=market,
        kind="dca",
        mode=Strategy.Mode.LIVE,
        account=account,
        parameters={"quote_amount": quote_amount},
        **fields,
    )


def order_written(strategy: Strategy, run: StrategyRun) -> Order:
    """The live buy of 0.1 a run at `tick()` writes before it sends it (its client order id)."""
    from strategies.models import Order
    from strategies.orders import client_order_id

    return Order.objects.create(
        strategy=strategy,
        run=run,
        mode=strategy.mode,
        side=Order.Side.BUY,
        amount=Decimal("0.1"),
        client_order_id=client_order_id(strategy_id=strategy.pk, tick=tick()),
    )


def place_at_exchange(order: Order, account: ExchangeAccount) -> None:
    """What a lost worker's create did before its answer was lost."""
    from marketdata import exchanges

    exchanges.create_order(
        account=account,
        symbol="BTC/USD",
        side="buy",
        type="market",
        amount=order.amount,
        price=None,
        client_order_id=order.client_order_id,
    )
