"""A series: the market and timeframe a strategy reads; its readable name, and who is on it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from strategies.models import Strategy

# The Celery task that runs a tick's strategies of one series together (tasks.strategies).
SERIES_TASK = "execute_strategy_series"


@dataclass(frozen=True)
class Series:
    """(market, timeframe), named as Flower shows its unit of work: `demo:BTC/USD_1m`."""

    market_id: int
    timeframe: str
    name: str


def strategies_series(*, strategy_ids: Collection[int]) -> dict[int, Series]:
    """The series of each strategy given (missing ones left out), in one query."""
    rows = Strategy.objects.filter(pk__in=list(strategy_ids)).values_list(
        "pk", "market_id", "timeframe", "market__exchange__name", "market__symbol"
    )
    return {
        pk: Series(market_id, timeframe, f"{exchange}:{symbol}_{timeframe}")
        for pk, market_id, timeframe, exchange, symbol in rows
    }
