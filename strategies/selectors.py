"""Reads of strategies that tasks and services share."""

from __future__ import annotations

from strategies.models import Strategy


def active_strategy_feeds() -> set[tuple[int, str]]:
    """The (market id, timeframe) pairs that active strategies read candles from."""
    return set(Strategy.objects.filter(is_active=True).values_list("market_id", "timeframe"))
