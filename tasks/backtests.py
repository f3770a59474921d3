"""The backtest task, on its own queue (`backtests`) and worker line, never in a tick's way."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from strategies.backtesting.models import Backtest

logger = logging.getLogger(__name__)


@shared_task(
    name="backtests.run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.BACKTEST_SOFT_TIME_LIMIT,
    time_limit=settings.BACKTEST_TIME_LIMIT,
)
def run_backtest(backtest_id: int) -> str | None:
    """Idempotent per backtest: a redelivery recomputes it and rewrites its results."""
    # The engine (numpy) loads in the backtest workers only, not in the beat and the strategy
    # workers, which import every task module.
    from strategies.backtesting.running import backtest_execute

    try:
        return backtest_execute(backtest_id=backtest_id)
    except Backtest.DoesNotExist:
        logger.warning("backtest %s does not exist; nothing to run", backtest_id)
        return None
