"""When a strategy runs next and how its last run went, for lists: no scheduler call per row.

The next run is the trigger's next tick, the same rule the scheduler backends fire by
(`project.kernel.scheduling`), so a list of 100,000 strategies needs no call to the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

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


class Health:
    """A strategy's health at a glance, worst first: what the dashboard colours."""

    FAILING = "failing"  # its last run failed
    LATE = "late"  # a tick after its last run is past due by more than the misfire grace
    SKIPPED = "skipped"  # its last run was skipped (the reason is on the run)
    PAUSED = "paused"  # stopped by the system (a delisting), with the reason
    OK = "ok"
    WAITING = "waiting"  # active, no run yet
    STOPPED = "stopped"

    ORDER = (FAILING, LATE, SKIPPED, PAUSED, OK, WAITING, STOPPED)


def strategy_health(
    *, strategy: Strategy, last_run: StrategyRun | None, now: datetime, grace: timedelta
) -> str:
    """One word for how a strategy is doing now, from its state and its last run."""
    if not strategy.is_active:
        return Health.PAUSED if strategy.paused_reason else Health.STOPPED
    if last_run is None:
        return Health.WAITING
    if strategy.trigger.next_tick(last_run.scheduled_tick) < now - grace:
        return Health.LATE
    if last_run.status == StrategyRun.Status.FAILED:
        return Health.FAILING
    if last_run.status == StrategyRun.Status.SKIPPED:
        return Health.SKIPPED
    return Health.OK
