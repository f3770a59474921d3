"""When a strategy runs next and how its last run went, for lists: no scheduler call per row.

The next run is the trigger's next tick, the same rule the scheduler backends fire by
(`project.scheduling`), so a list of 100,000 strategies needs no call to the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from strategies.models import Strategy, StrategyRun


def strategy_next_run_at(*, strategy: Strategy, now: datetime | None = None) -> datetime | None:
    """The next tick an active strategy's job fires at; None while it is stopped."""
    if not strategy.is_active:
        return None
    return strategy.trigger.next_tick(now or timezone.now())


def strategies_last_runs(*, strategy_ids: Iterable[int]) -> dict[int, StrategyRun]:
    """The newest run of each strategy, in one query (DISTINCT ON the run's unique index)."""
    runs = (
        StrategyRun.objects.filter(strategy_id__in=list(strategy_ids))
        .order_by("strategy_id", "-scheduled_tick")
        .distinct("strategy_id")
    )
    return {run.strategy_id: run for run in runs}
