"""Market data jobs: collect candles and tickers, refresh market lists, apply retention."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from marketdata.services import all_markets_sync, market_data_collect
from strategies.delisting import strategies_pause_on_markets, strategies_resume_on_markets
from strategies.selectors import active_strategy_feeds
from tasks.retention import data_retention_apply

logger = logging.getLogger(__name__)


@shared_task(name="collect_crypto_data", acks_late=True)
def collect_crypto_data() -> dict[str, dict]:
    """The watchlist on its own cadence; series that strategies trade on are left to
    `collect_due_candles`, so no series is asked for twice. Idempotent (upserts)."""
    strategy_feeds = active_strategy_feeds()
    return market_data_collect(watchlist=True, skip_feeds=strategy_feeds)


@shared_task(name="collect_due_candles", acks_late=True)
def collect_due_candles() -> dict[str, dict]:
    """Every series an active strategy trades on whose next candle has just closed, each
    once however many strategies share it, with its market's ticker. Runs every minute and
    asks nothing of the exchange between closes. Idempotent (upserts)."""
    return market_data_collect(extra_feeds=active_strategy_feeds(), watchlist=False, due_only=True)


@shared_task(name="update_exchange_symbols", acks_late=True)
def update_exchange_symbols() -> dict[str, dict]:
    """Refresh market lists; strategies on markets that disappeared are paused with the
    reason, and those paused only for that are resumed when their market is listed again."""
    summary = all_markets_sync()
    delisted = [pk for synced in summary.values() for pk in synced.get("deactivated", [])]
    relisted = [pk for synced in summary.values() for pk in synced.get("reactivated", [])]
    if delisted:
        paused = strategies_pause_on_markets(market_ids=delisted)
        logger.warning("update_exchange_symbols paused strategies %s", paused)
    if relisted:
        resumed = strategies_resume_on_markets(market_ids=relisted)
        logger.warning("update_exchange_symbols resumed strategies %s", resumed)
    return summary


@shared_task(name="cleanup_old_data", acks_late=True)
def cleanup_old_data() -> dict[str, int]:
    deleted = data_retention_apply(now=timezone.now())
    logger.info("cleanup_old_data deleted: %s", deleted)
    return deleted
