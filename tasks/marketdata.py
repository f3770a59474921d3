"""Market data jobs: collect candles and tickers, refresh market lists, apply retention."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from marketdata.services import all_markets_sync, market_data_collect
from strategies.selectors import active_strategy_feeds
from strategies.services import strategies_pause_on_markets
from tasks.retention import data_retention_apply

logger = logging.getLogger(__name__)


@shared_task(name="collect_crypto_data", acks_late=True)
def collect_crypto_data() -> dict[str, dict]:
    """Idempotent (upserts on unique keys), so a redelivered round only rewrites rows."""
    return market_data_collect(extra_feeds=active_strategy_feeds())


@shared_task(name="update_exchange_symbols", acks_late=True)
def update_exchange_symbols() -> dict[str, dict]:
    """Refresh market lists; strategies on markets that disappeared are paused with the reason."""
    summary = all_markets_sync()
    delisted = [pk for synced in summary.values() for pk in synced.get("deactivated", [])]
    if delisted:
        paused = strategies_pause_on_markets(market_ids=delisted, reason="market delisted")
        logger.warning("update_exchange_symbols paused strategies %s", paused)
    return summary


@shared_task(name="cleanup_old_data", acks_late=True)
def cleanup_old_data() -> dict[str, int]:
    deleted = data_retention_apply(now=timezone.now())
    logger.info("cleanup_old_data deleted: %s", deleted)
    return deleted
