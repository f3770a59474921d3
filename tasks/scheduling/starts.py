"""A firing's start and end, as the worker that took its message sees them: one live task per
firing, one tick of a job at a time and in tick order, none once it was recorded missed.

The beat publishes a firing again when its task has not started within the deadline, or started
and lost its process (`outbox.firings_requeue_unstarted`), so a worker may see several copies
of one firing, all with its task id. The task that starts it takes the firing's lease (an
advisory lock, freed when its process or connection dies) and stamps `task_started_at`; a copy
finds the lease held, or the firing ended (`task_ended_at`), and is not run; a copy that finds
it started with its lease free resumes it (its worker is gone). A job's later tick waits while
an earlier one within the misfire grace has not ended: a backlog runs in order, one at a time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection

from project.kernel.locks import LockPurpose, lock_key_sql

LEASE_SQL = lock_key_sql(LockPurpose.FIRING_LEASE, "id")


class Start(enum.Enum):
    """What a delivery of a task may do."""

    NOT_A_FIRING = "not fired by a beat (a run-now, a direct send, or its firing deleted)"
    STARTED = "the firing's first start: run it"
    RESUMED = "the firing started, and its worker is gone: run it again (it is idempotent)"
    WAIT = "an earlier tick of the job has not ended yet"
    COPY = "the firing ended, or runs elsewhere: this is a second copy of its message"
    MISSED = "the firing was recorded missed: it did not start within its grace"


@dataclass(frozen=True)
class FiringStart:
    start: Start
    firing_id: int | None = None
    earlier_tick: datetime | None = None
    reason: str = ""

    @property
    def runs(self) -> bool:
        return self.start in (Start.NOT_A_FIRING, Start.STARTED, Start.RESUMED)


# One round trip. The lease is tried last (CASE keeps the order), so it is never taken for a
# firing that is not run; a copy racing its twin finds the lease held.
START_SQL = f"""
WITH f AS (
    SELECT id, job_name, scheduled_tick, status, task_started_at, task_ended_at, reason
      FROM tasks_firing WHERE celery_task_id = %(task_id)s
), earlier AS (
    SELECT e.scheduled_tick FROM tasks_firing AS e, f
     WHERE e.job_name = f.job_name AND e.scheduled_tick < f.scheduled_tick
       AND e.scheduled_tick > now() - make_interval(secs => %(wait)s)
       AND e.status IN ('pending', 'published') AND e.task_ended_at IS NULL
     ORDER BY e.scheduled_tick LIMIT 1
), claim AS (
    SELECT f.id FROM f
     WHERE CASE WHEN f.status <> 'skipped' AND f.task_ended_at IS NULL
                     AND NOT EXISTS (SELECT 1 FROM earlier)
                THEN pg_try_advisory_lock({LEASE_SQL}) ELSE false END
), stamped AS (
    UPDATE tasks_firing AS t SET task_started_at = coalesce(t.task_started_at, now())
      FROM claim WHERE t.id = claim.id
    RETURNING t.id, set_config('synchronous_commit', 'off', true)
)
SELECT f.id, f.status, f.task_started_at, f.reason, (SELECT scheduled_tick FROM earlier),
       EXISTS (SELECT 1 FROM stamped)
  FROM f
"""  # noqa: S608 - constants only


def firing_start(*, task_id: str, in_order: bool = True) -> FiringStart:
    """Start the firing whose message carries `task_id` on this connection, if no live task
    has it and (`in_order`) no earlier tick of its job within the misfire grace is still to end.

    The stamp commits without waiting for the disk (as a run's claim does): a database crash
    that loses it makes the beat publish the firing again, which the lease keeps to one task.
    """
    wait = settings.SCHEDULER_MISFIRE_GRACE_SECONDS if in_order else 0
    with connection.cursor() as cursor:
        cursor.execute(START_SQL, {"task_id": task_id, "wait": wait})
        row = cursor.fetchone()
    if row is None:
        return FiringStart(Start.NOT_A_FIRING)
    firing_id, status, started_at, reason, earlier, claimed = row
    if claimed:
        return FiringStart(Start.RESUMED if started_at else Start.STARTED, firing_id)
    if status == "skipped":
        return FiringStart(Start.MISSED, firing_id, reason=reason)
    if earlier is not None:
        return FiringStart(Start.WAIT, firing_id, earlier_tick=earlier)
    return FiringStart(Start.COPY, firing_id)


# The update runs though nothing reads it (PostgreSQL runs every data-modifying WITH); the
# lease is given back whether or not a twin ended the firing first.
FINISH_SQL = f"""
WITH ended AS (
    UPDATE tasks_firing SET task_ended_at = now() WHERE id = %(id)s AND task_ended_at IS NULL
)
SELECT pg_advisory_unlock({LEASE_SQL}), set_config('synchronous_commit', 'off', true)
  FROM (SELECT %(id)s::bigint AS id) AS f
"""  # noqa: S608 - constants only

RELEASE_SQL = f"""
SELECT pg_advisory_unlock({LEASE_SQL}) FROM (SELECT %(id)s::bigint AS id) AS f
"""  # noqa: S608 - constants only


def firing_finish(*, firing_id: int) -> None:
    """Stamp the end of the firing's task (done, or failed for good) and give its lease back:
    the job's next tick may start."""
    with connection.cursor() as cursor:
        cursor.execute(FINISH_SQL, {"id": firing_id})


def firing_release(*, firing_id: int) -> None:
    """Give the lease back without an end: the task is retried, and its retry resumes it."""
    with connection.cursor() as cursor:
        cursor.execute(RELEASE_SQL, {"id": firing_id})
