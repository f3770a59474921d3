"""Strategies follow their market's listing: paused when it is delisted, resumed when it returns."""

from __future__ import annotations

import logging

from strategies.models import Strategy
from strategies.services import strategy_pause, strategy_start

logger = logging.getLogger(__name__)

DELISTED = "market delisted"


def _delisted_reason(strategy: Strategy) -> str:
    return f"{DELISTED}: {strategy.market}"


def strategies_pause_on_markets(*, market_ids: list[int], reason: str = DELISTED) -> list[int]:
    """Pause every active strategy trading one of these markets (delisted ones); their ids."""
    paused = []
    strategies = Strategy.objects.filter(market_id__in=market_ids, is_active=True)
    for strategy in strategies.select_related("market"):
        strategy_pause(strategy=strategy, reason=f"{reason}: {strategy.market}")
        paused.append(strategy.pk)
    return paused


def strategies_resume_on_markets(*, market_ids: list[int]) -> list[int]:
    """Start again the strategies on these (relisted) markets that were paused only because
    their market was delisted: paused with that reason and not touched since (starting a
    strategy clears its reason); their ids. Each resumption is logged."""
    resumed = []
    strategies = Strategy.objects.filter(
        market_id__in=market_ids, is_active=False, paused_reason__startswith=DELISTED
    )
    for strategy in strategies.select_related("market"):
        if strategy.paused_reason != _delisted_reason(strategy):
            continue
        strategy_start(strategy=strategy)
        logger.warning("strategy %s resumed: %s is listed again", strategy.pk, strategy.market)
        resumed.append(strategy.pk)
    return resumed
