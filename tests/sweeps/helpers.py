"""Sweep test helpers: a market with a known price path, a sweep's data, waiting on a sweep, and
the messages waiting in the sweeps' queue."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings

from marketdata.models import TIMEFRAME_DURATIONS, Candle, Market
from strategies.backtesting.candles import candles_load
from strategies.backtesting.engine import backtest_run
from strategies.backtesting.models import Backtest
from strategies.backtesting.running import spec_of
from strategies.engine import get_strategy_class
from strategies.engine.safety import strategy_build
from strategies.sweeps.messages import QUEUE
from strategies.sweeps.models import Sweep, SweepSet
from tests.processes import wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def closes_path(count: int, *, seed: int = 1, start: float = 100.0) -> list[Decimal]:
    """A random walk with waves, to the cent: crossovers both ways, trades that win and lose."""
    rng = random.Random(seed)
    price, closes = start, []
    for i in range(count):
        price *= 1 + 0.004 * math.sin(i / 17) + rng.gauss(0, 0.006)
        closes.append(Decimal(f"{max(price, 1):.2f}"))
    return closes


def candles_add(market: Market, closes: list[Decimal], *, timeframe: str = "1h") -> None:
    """Closed candles from T0, one per timeframe, with these closes (open = previous close)."""
    step = TIMEFRAME_DURATIONS[timeframe]
    rows, previous = [], closes[0]
    for i, close in enumerate(closes):
        low, high = min(previous, close), max(previous, close)
        rows.append(
            Candle(
                market=market,
                timeframe=timeframe,
                open_time=T0 + step * i,
                open=previous,
                high=high,
                low=low,
                close=close,
                volume=Decimal(1),
                is_closed=True,
            )
        )
        previous = close
    Candle.objects.bulk_create(rows, batch_size=5000)


def sweep_data(market: Market, *, hours: int, **overrides: Any) -> dict[str, Any]:
    """An SMA-crossover grid sweep over the first `hours` of the path."""
    data: dict[str, Any] = {
        "name": "sma grid",
        "kind": "sma_crossover",
        "market": market,
        "timeframe": "1h",
        "start": T0 + timedelta(hours=40),
        "end": T0 + timedelta(hours=hours),
        "space": {"fast": {"values": [2, 3, 5, 8]}, "slow": {"min": 10, "max": 30, "step": 5}},
        "search": Sweep.Search.GRID,
        "objective": Sweep.Objective.TOTAL_RETURN,
        "chunk_size": 4,
    }
    data.update(overrides)
    return data


def wait_sweep(sweep_id: int, status: str = "done", timeout: float = 240.0) -> Sweep:
    def reached() -> Sweep | None:
        sweep = Sweep.objects.get(pk=sweep_id)
        return sweep if sweep.status == status else None

    return wait_for(reached, timeout, f"sweep {sweep_id} to be {status}")  # type: ignore[return-value]


def done_count(sweep_id: int) -> int:
    return SweepSet.objects.filter(sweep_id=sweep_id, done_at__isnull=False).count()


def single_backtest(
    sweep: Sweep, parameters: dict[str, Any], window: tuple[datetime, datetime] | None = None
) -> tuple[dict[str, Any], str]:
    """A set backtested alone, as a backtest of its own would be: the backtest's own spec (not
    the sweep's mapping), its own candles and warmup."""
    start, end = window or (sweep.start, sweep.end)
    cleaned = get_strategy_class(sweep.kind).clean_parameters(parameters)
    backtest = Backtest(
        owner=sweep.owner,
        market=sweep.market,
        kind=sweep.kind,
        parameters=cleaned,
        timeframe=sweep.timeframe,
        start=start,
        end=end,
        capital=sweep.capital,
        fee_rate=sweep.fee_rate,
    )
    spec = spec_of(backtest)
    candles = candles_load(
        market_id=sweep.market_id,
        timeframe=sweep.timeframe,
        start=start,
        end=end,
        warmup=strategy_build(get_strategy_class(sweep.kind), cleaned).candles_required(),
    )
    result = backtest_run(spec, candles)
    return result.figures, result.trades_hash


def _broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def queued_ids() -> list[str]:
    """The task ids of the messages waiting in the sweeps' queue, oldest first."""
    with _broker() as client:
        raw = client.lrange(QUEUE, 0, -1)
    return [json.loads(message)["headers"]["id"] for message in reversed(raw)]


def queued_drop(task_id: str) -> int:
    """Take the message with this task id out of the queue, as a broker that lost it would."""
    with _broker() as client:
        for message in client.lrange(QUEUE, 0, -1):
            if json.loads(message)["headers"]["id"] == task_id:
                return int(client.lrem(QUEUE, 1, message))
    return 0


def queue_clear() -> None:
    with _broker() as client:
        client.delete(QUEUE)
