"""Each firing of the APScheduler leader as a `Firing` row, as our beat records its own: so the
job list, the admin and /metrics know a job's last run, lateness and missed ticks whichever
backend fires it."""

from __future__ import annotations

import functools
import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DatabaseError, close_old_connections
from django.db.models import F

from project.kernel.scheduling import IntervalTrigger, Trigger
from tasks.models import Firing, FiringStatus
from tasks.scheduling.messages import firing_task_id
from tasks.scheduling.ticks import MAX_COUNTED_TICKS, SCHEDULE

logger = logging.getLogger(__name__)

LATE = "later than its misfire grace: no leader ran it in time"
STILL_RUNNING = "its previous run was still running"


@functools.cache
def leader_id() -> str:
    """What the firing rows of this process name as their maker (the beats' `beat_id`)."""
    return f"apscheduler:{socket.gethostname()}:{os.getpid()}"[:64]


def firing_record(
    job: Any,
    tick: datetime,
    *,
    due: datetime | None,
    status: str = FiringStatus.PUBLISHED,
    reason: str = "",
) -> None:
    """Record that the leader fired (or skipped) `job` for `tick`, the first tick due at `due`
    (earlier ones were coalesced); once per (job, tick).

    Runs on APScheduler's thread: a database error is logged, never raised into it.
    """
    missed = _ticks_between(getattr(job.trigger, "trigger", None), due, tick)
    try:
        row = _firing(job, tick, missed=missed, status=status, reason=reason)
        Firing.objects.bulk_create([row], ignore_conflicts=True)
    except DatabaseError:
        logger.exception("the firing of %s for %s was not recorded", job.id, tick)
    finally:
        close_old_connections()


def _firing(job: Any, tick: datetime, *, missed: int, status: str, reason: str) -> Firing:
    task, args, kwargs = job.args
    now = datetime.now(UTC)
    published = status == FiringStatus.PUBLISHED
    return Firing(
        job_name=job.id,
        periodic_task_id=0,
        scheduled_tick=tick,
        task=task,
        args=list(args),
        kwargs=dict(kwargs),
        celery_task_id=firing_task_id(job.id, tick),
        trigger=SCHEDULE,  # the latest tick runs, standing in for those missed
        missed_ticks=missed if published else missed + 1,
        status=status,
        created_at=now,
        published_at=now if published else None,
        # The leader's own pool takes the job at once: its run starts as it is handed over.
        task_started_at=now if published else None,
        beat_id=leader_id(),
        reason=reason,
    )


def firing_ended(job_id: str, tick: datetime) -> None:
    """The run of the firing of `tick` is over (done or failed): the job's next tick may run."""
    try:
        Firing.objects.filter(job_name=job_id, scheduled_tick=tick).update(
            task_ended_at=datetime.now(UTC)
        )
    except DatabaseError:
        logger.exception("the end of %s for %s was not recorded", job_id, tick)
    finally:
        close_old_connections()


def firing_missed(job_id: str, tick: datetime) -> None:
    """The submitted firing of `tick` did not run: its executor found it past the grace."""
    try:
        Firing.objects.filter(job_name=job_id, scheduled_tick=tick).update(
            status=FiringStatus.SKIPPED,
            published_at=None,
            task_started_at=None,
            missed_ticks=F("missed_ticks") + 1,
            reason=LATE,
        )
    except DatabaseError:
        logger.exception("the miss of %s for %s was not recorded", job_id, tick)
    finally:
        close_old_connections()


def _ticks_between(trigger: Trigger | None, due: datetime | None, tick: datetime) -> int:
    """Ticks from `due` up to (not including) `tick`: the ones the leader coalesced."""
    if due is None or trigger is None or due >= tick:
        return 0
    if isinstance(trigger, IntervalTrigger):
        return round((tick - due) / timedelta(seconds=trigger.seconds))
    missed, following = 1, trigger.next_tick(due)
    while following < tick and missed < MAX_COUNTED_TICKS:
        missed, following = missed + 1, trigger.next_tick(following)
    return missed
