"""The firings a series' message carries: each started and ended as its own message's would be.

A series message (`grouping`) stands for one firing per strategy. The worker's edge
(`tasks.edge`) starts a message's one firing by its task id; a series message's task id is
no firing's, so its task starts each strategy's firing here, by the same rule as
`starts.firing_start` (each with its lease), all in one statement: a started or resumed firing
runs in the batch; a copy or a missed one does not run; one whose job's earlier tick has not
ended yet is sent on as its own message (its firing's task id), whose edge waits for that
tick. Each firing run is stamped ended after the batch, so the beat neither publishes it
again nor records it missed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.db import connection

from strategies.batch import BatchReport, series_execute
from strategies.models import Strategy
from strategies.services import EXECUTE_TASK
from tasks.edge import DATABASE_ERRORS
from tasks.scheduling.messages import firing_task_id
from tasks.scheduling.starts import LEASE_SQL, FiringStart, Start
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


# The set-based form of `starts.START_SQL` (same conditions, same lease, same stamp), for the
# firings of a series message in one round trip: tests/scheduling/test_series_firings.py
# holds it equal to `firing_start` firing by firing.
STARTS_SQL = f"""
WITH w AS (SELECT DISTINCT unnest(%(task_ids)s::text[]) AS task_id),
f AS (
    SELECT t.id, t.job_name, t.scheduled_tick, t.status, t.task_started_at, t.task_ended_at,
           w.task_id,
           EXISTS (SELECT 1 FROM tasks_firing AS e
                    WHERE e.job_name = t.job_name AND e.scheduled_tick < t.scheduled_tick
                      AND e.scheduled_tick > now() - make_interval(secs => %(wait)s)
                      AND e.status IN ('pending', 'published') AND e.task_ended_at IS NULL
                  ) AS waits
      FROM tasks_firing AS t JOIN w ON t.celery_task_id = w.task_id
), claim AS (
    SELECT f.id FROM f
     WHERE CASE WHEN f.status <> 'skipped' AND f.task_ended_at IS NULL AND NOT f.waits
                THEN pg_try_advisory_lock({LEASE_SQL}) ELSE false END
), stamped AS (
    UPDATE tasks_firing AS t SET task_started_at = coalesce(t.task_started_at, now())
      FROM claim WHERE t.id = claim.id
    RETURNING t.id, set_config('synchronous_commit', 'off', true)
)
SELECT f.task_id, f.id, f.status, f.task_started_at, f.waits,
       EXISTS (SELECT 1 FROM stamped WHERE stamped.id = f.id)
  FROM f
"""  # noqa: S608 - constants only

FINISHES_SQL = f"""
WITH ended AS (
    UPDATE tasks_firing SET task_ended_at = now()
     WHERE id = ANY(%(ids)s) AND task_ended_at IS NULL
)
SELECT count(pg_advisory_unlock({LEASE_SQL})), set_config('synchronous_commit', 'off', true)
  FROM unnest(%(ids)s::bigint[]) AS f(id)
"""  # noqa: S608 - constants only


def firings_start(*, task_ids: Sequence[str]) -> dict[str, FiringStart]:
    """`starts.firing_start` of many firings in one statement, by task id."""
    wait = settings.SCHEDULER_MISFIRE_GRACE_SECONDS
    with connection.cursor() as cursor:
        cursor.execute(STARTS_SQL, {"task_ids": list(task_ids), "wait": wait})
        rows = cursor.fetchall()
    found = {row[0]: _start_of(*row[1:]) for row in rows}
    return {task_id: found.get(task_id, FiringStart(Start.NOT_A_FIRING)) for task_id in task_ids}


def _start_of(
    firing_id: int, status: str, started_at: datetime | None, waits: bool, claimed: bool
) -> FiringStart:
    """What a delivery may do, decided as `starts.firing_start` decides it."""
    if claimed:
        return FiringStart(Start.RESUMED if started_at else Start.STARTED, firing_id)
    if status == "skipped":
        return FiringStart(Start.MISSED, firing_id)
    if waits:
        return FiringStart(Start.WAIT, firing_id)
    return FiringStart(Start.COPY, firing_id)


def series_firings_start(*, strategy_ids: Sequence[int], tick: datetime) -> SeriesStart:
    """Start each strategy's firing of the tick; what runs, what waits, what was started."""
    task_ids = {sid: strategy_firing_task_id(sid, tick) for sid in strategy_ids}
    starts = firings_start(task_ids=list(task_ids.values()))
    started = SeriesStart()
    for strategy_id, task_id in task_ids.items():
        firing = starts[task_id]
        if firing.start is Start.WAIT:
            started.waiting.append(strategy_id)
        elif firing.runs:
            started.run.append(strategy_id)
            if firing.start is not Start.NOT_A_FIRING:
                started.firings.append(firing.firing_id)  # type: ignore[arg-type]
        else:
            logger.info("strategy %s at %s: %s; not run", strategy_id, tick, firing.start.value)
    return started


def series_firings_finish(*, firing_ids: Sequence[int]) -> None:
    """Stamp the started firings ended and give their leases back, in one statement: their
    jobs' next ticks may start."""
    if firing_ids:
        with connection.cursor() as cursor:
            cursor.execute(FINISHES_SQL, {"ids": list(firing_ids)})


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
