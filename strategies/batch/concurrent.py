"""The runs of a batch that take the single run's way, concurrently: live orders in flight
together, at most EXCHANGE_CONCURRENCY at once (a batch is one market, so one exchange), each
request within the exchange's shared rate limit (the gateway reserves its slot in Redis).

Each runs on a thread of its own with its own database session, so each holds its own lease;
the session is closed when the run is done, which gives its leases back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from django.conf import settings
from django.db import connections

from strategies.execution import strategy_execute
from strategies.models import Strategy, StrategyRun

logger = logging.getLogger(__name__)


class Singles:
    """The single runs in flight; `result()` waits for them all."""

    def __init__(self, futures: dict[int, Future[StrategyRun | None]]) -> None:
        self.futures = futures

    def result(self) -> dict[int, StrategyRun | None]:
        """Each strategy's run (None: nothing recorded). A fault of ours in one is raised once
        all are done, so the others are never cut short."""
        ran: dict[int, StrategyRun | None] = {}
        errors: list[BaseException] = []
        for strategy_id, future in self.futures.items():
            error = future.exception()
            if error is None:
                ran[strategy_id] = future.result()
            else:
                logger.error("the run of strategy %s failed: %r", strategy_id, error)
                errors.append(error)
        if errors:
            raise errors[0]
        return ran


def singles_execute(
    *, strategy_ids: Sequence[int], tick: datetime, task_id: str, trigger: str
) -> Singles:
    """Start the single run of each strategy given; they run while the caller goes on."""
    if not strategy_ids:
        return Singles({})
    workers = min(len(strategy_ids), settings.EXCHANGE_CONCURRENCY)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch-single")
    futures = {
        strategy_id: pool.submit(_single, strategy_id, tick, task_id, trigger)
        for strategy_id in strategy_ids
    }
    pool.shutdown(wait=False)
    return Singles(futures)


def _single(strategy_id: int, tick: datetime, task_id: str, trigger: str) -> StrategyRun | None:
    try:
        return strategy_execute(
            strategy_id=strategy_id, scheduled_tick=tick, task_id=task_id, trigger=trigger
        )
    except Strategy.DoesNotExist:
        logger.warning("strategy %s does not exist; nothing to run", strategy_id)
        return None
    finally:
        connections.close_all()  # this thread's session, and the leases it holds
