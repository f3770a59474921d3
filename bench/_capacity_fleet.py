"""bench/capacity.py's strategies: paper DCAs on a grid, their job rows, and fresh candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

BATCH = 5_000
MINUTE = timedelta(minutes=1)


class Fleet:
    """Markets on one bench exchange, and the strategies of one phase at a time."""

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model

        from marketdata.models import Exchange

        self.owner = get_user_model().objects.create(username="capacity")
        self.exchange = Exchange.objects.create(name="bench", ccxt_id="bitstamp")
        self.markets: list[Any] = []
        self.phase: list[Any] = []
        self._phases = 0

    def markets_up_to(self, count: int) -> list[Any]:
        """The first `count` markets (made as needed), each with the last minutes' candles."""
        from marketdata.models import Market

        if count > len(self.markets):
            made = Market.objects.bulk_create(
                Market(
                    exchange=self.exchange,
                    symbol=f"C{n}/USD",
                    exchange_symbol=f"c{n}usd",
                    base=f"C{n}",
                    quote="USD",
                )
                for n in range(len(self.markets), count)
            )
            self.markets.extend(made)
            now = datetime.now(UTC)
            for minutes in range(3, 0, -1):
                candles_close(made, now - minutes * MINUTE)
        return self.markets[:count]

    def start(self, size: int, markets: int, grid: int) -> list[int]:
        """`size` active strategies spread over `markets` markets, every `grid` seconds, each
        with the job row our Celery backend writes for it; their ids."""
        from strategies.models import Strategy

        self._phases += 1
        spread = self.markets_up_to(markets)
        made: list[Any] = []
        for start in range(0, size, BATCH):
            made += Strategy.objects.bulk_create(
                Strategy(
                    owner=self.owner,
                    name=f"dca {self._phases}-{n}",
                    market=spread[n % len(spread)],
                    timeframe="1m",
                    kind="dca",
                    parameters={"quote_amount": "10"},
                    interval_seconds=grid,
                    max_orders_per_day=10_000,
                    is_active=True,
                )
                for n in range(start, min(size, start + BATCH))
            )
        _jobs_add(made, grid)
        self.phase = made
        return [strategy.pk for strategy in made]

    def stop(self) -> None:
        """Stop the phase's strategies and remove their jobs (the beat's tables follow)."""
        from django_celery_beat.models import PeriodicTask, PeriodicTasks

        from strategies.models import Strategy

        names = [strategy.job_id for strategy in self.phase]
        for start in range(0, len(names), BATCH):
            PeriodicTask.objects.filter(name__in=names[start : start + BATCH]).delete()
        PeriodicTasks.update_changed()
        ids = [strategy.pk for strategy in self.phase]
        for start in range(0, len(ids), BATCH):
            Strategy.objects.filter(pk__in=ids[start : start + BATCH]).update(is_active=False)
        self.phase = []


def _jobs_add(strategies: list[Any], grid: int) -> None:
    """The `PeriodicTask` rows `CeleryBeatScheduler.add_job` writes, bulk-inserted (the beat
    benchmark's rule, `_beat_jobs._rows_of`), in batches."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTasks

    from bench._beat_jobs import _rows_of

    every, _ = IntervalSchedule.objects.get_or_create(every=grid, period=IntervalSchedule.SECONDS)
    for start in range(0, len(strategies), BATCH):
        _rows_of(strategies[start : start + BATCH], every)
    PeriodicTasks.update_changed()


def candles_close(markets: list[Any], moment: datetime) -> None:
    """The 1-minute candle of each market that closes at the minute boundary at or before
    `moment`, written closed (what collection would have stored by then)."""
    from marketdata.models import Candle

    boundary = moment.replace(second=0, microsecond=0)
    price = Decimal(100)
    for start in range(0, len(markets), BATCH):
        Candle.objects.bulk_create(
            (
                Candle(
                    market=market,
                    timeframe="1m",
                    open_time=boundary - MINUTE,
                    open=price,
                    high=price,
                    low=price,
                    close=price,
                    volume=Decimal(1),
                    is_closed=True,
                )
                for market in markets[start : start + BATCH]
            ),
            ignore_conflicts=True,
        )
