"""The firings a series' message carries: each started and ended as its own message's would be.

A series message (`grouping`) stands for one firing per strategy. The worker's edge
(`tasks.edge`) starts a message's one firing by its task id; a series message's task id is
no firing's, so its task starts each strategy's firing here, by the same rule
(`starts.firing_start`, each with its lease): a started or resumed firing runs in the batch; a
copy or a missed one does not run; one whose job's earlier tick has not ended yet is sent on
as its own message (its firing's task id), whose edge waits for that tick. Each firing run is
stamped ended after the batch, so the beat neither publishes it again nor records it missed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from celery import current_app

from strategies.batch import BatchReport, series_execute
from strategies.models import Strategy
from strategies.services import EXECUTE_TASK
from tasks.edge import DATABASE_ERRORS
from tasks.scheduling.messages import firing_task_id
from tasks.scheduling.starts import Start, firing_finish, firing_start
from tasks.scheduling.ticks import SCHEDULE

logger = logging.getLogger(__name__)


@dataclass
class SeriesStart:
    """The strategies to run in the batch, those whose firing waits for an earlier tick, and
    the firings this task started (to stamp ended)."""

    run: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    firings: list[int] = field(default_factory=list)


def strategy_firing_task_id(strategy_id: int, tick: datetime) -> str:
    """The task id of the strategy's own firing of the tick (`strategy_42@...Z`)."""
    return firing_task_id(Strategy(pk=strategy_id).job_id, tick)


def series_firings_start(*, strategy_ids: Sequence[int], tick: datetime) -> SeriesStart:
    """Start each strategy's firing of the tick; what runs, what waits, what was started."""
    started = SeriesStart()
    for strategy_id in strategy_ids:
        firing = firing_start(task_id=strategy_firing_task_id(strategy_id, tick))
        if firing.start is Start.WAIT:
            started.waiting.append(strategy_id)
        elif firing.runs:
            started.run.append(strategy_id)
            if firing.firing_id is not None and firing.start is not Start.NOT_A_FIRING:
                started.firings.append(firing.firing_id)
        else:
            logger.info("strategy %s at %s: %s; not run", strategy_id, tick, firing.start.value)
    return started


def series_firings_finish(*, firing_ids: Sequence[int]) -> None:
    """Stamp each started firing ended and give its lease back: its job's next tick may start."""
    for firing_id in firing_ids:
        firing_finish(firing_id=firing_id)


def series_run(
    *, strategy_ids: Sequence[int], tick: datetime, task_id: str, trigger: str
) -> BatchReport:
    """Start the strategies' firings, send on those that wait, run the rest as one batch and
    stamp their firings ended. A database error leaves them started: the edge closes the
    connection (their leases go with it) and retries the message, which resumes them."""
    started = series_firings_start(strategy_ids=strategy_ids, tick=tick)
    for strategy_id in started.waiting:
        current_app.send_task(
            EXECUTE_TASK,
            args=[strategy_id, tick.isoformat()],
            kwargs={} if trigger == SCHEDULE else {"trigger": trigger},
            task_id=strategy_firing_task_id(strategy_id, tick),
            ignore_result=True,
        )
    try:
        report = series_execute(
            strategy_ids=started.run, scheduled_tick=tick, task_id=task_id, trigger=trigger
        )
    except DATABASE_ERRORS:
        raise
    except Exception:
        series_firings_finish(firing_ids=started.firings)  # failed for good, as the edge does
        raise
    series_firings_finish(firing_ids=started.firings)
    report.waiting = started.waiting
    return report
