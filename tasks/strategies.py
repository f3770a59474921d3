"""The strategy job: one execution of one strategy for one tick."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import Task, shared_task
from django.conf import settings

from strategies.errors import RunInProgress
from strategies.execution import strategy_execute
from strategies.models import Strategy

logger = logging.getLogger(__name__)

# A tick that finds the strategy's previous run in progress looks again this often, for at
# most the hard time limit (that run ends by then); the last look records it skipped.
WAIT_COUNTDOWN = 1.0


@shared_task(name="execute_single_strategy", bind=True, acks_late=True, reject_on_worker_lost=True)
def execute_single_strategy(
    self: Task, strategy_id: int, scheduled_tick: str | None = None, trigger: str = "schedule"
) -> dict[str, object] | None:
    """Idempotent per (strategy, tick), so a message redelivered after a lost worker is safe.

    `trigger` (schedule, run_now, catch_up) is recorded on the run. Ticks of one strategy run
    one at a time: a tick that finds another in progress is retried shortly, not skipped.
    """
    tick = datetime.fromisoformat(scheduled_tick) if scheduled_tick else None
    if tick is not None and tick.tzinfo is None:
        raise ValueError(f"scheduled_tick {scheduled_tick!r} has no time zone offset")
    waits = int(settings.CELERY_TASK_TIME_LIMIT / WAIT_COUNTDOWN)
    try:
        run = strategy_execute(
            strategy_id=strategy_id,
            scheduled_tick=tick,
            task_id=self.request.id or "",
            trigger=trigger,
            wait=not self.request.is_eager and self.request.retries < waits,
        )
    except RunInProgress:
        raise self.retry(countdown=WAIT_COUNTDOWN, max_retries=None) from None
    except Strategy.DoesNotExist:
        logger.warning("strategy %s does not exist; nothing to run", strategy_id)
        return None
    if run is None:
        return None
    return {"run": run.pk, "status": run.status}
