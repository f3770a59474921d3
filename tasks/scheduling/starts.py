"""A firing's start and end, as the worker that took its message sees them: one start per
firing, one tick of a job at a time and in tick order, none once it was recorded missed.

The beat publishes a firing again when its task has not started within the deadline
(`outbox.firings_requeue_unstarted`), so a worker may see several copies of one firing, all
with its task id. The first to start stamps `task_started_at`; the others learn that they are
copies. A job's later tick waits while an earlier one (within the misfire grace) has not
ended (`task_ended_at`): a backlog runs in order, one tick at a time, never colliding.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection


class Start(enum.Enum):
    """What a delivery of a task may do."""

    NOT_A_FIRING = "not fired by a beat (a run-now, a direct send, or its firing deleted)"
    STARTED = "the firing's first start: run it"
    WAIT = "an earlier tick of the job has not ended yet"
    COPY = "the firing has started already: this is a second copy of its message"
    MISSED = "the firing was recorded missed: it did not start within its grace"


@dataclass(frozen=True)
class FiringStart:
    start: Start
    job_name: str = ""
    started_at: datetime | None = None
    earlier_tick: datetime | None = None
    reason: str = ""


# One round trip. `f` is read before the update; a copy whose twin stamped it first meanwhile
# finds it stamped when its own update waits on the row lock, and updates nothing.
START_SQL = """
WITH f AS (
    SELECT id, job_name, scheduled_tick, status, task_started_at, reason
      FROM tasks_firing WHERE celery_task_id = %(task_id)s
), earlier AS (
    SELECT e.scheduled_tick FROM tasks_firing AS e, f
     WHERE e.job_name = f.job_name AND e.scheduled_tick < f.scheduled_tick
       AND e.scheduled_tick > now() - make_interval(secs => %(wait)s)
       AND e.status IN ('pending', 'published') AND e.task_ended_at IS NULL
     ORDER BY e.scheduled_tick LIMIT 1
), stamped AS (
    UPDATE tasks_firing AS t SET task_started_at = now()
      FROM f
     WHERE t.id = f.id AND t.task_started_at IS NULL AND t.status <> 'skipped'
       AND NOT EXISTS (SELECT 1 FROM earlier)
    RETURNING t.task_started_at, set_config('synchronous_commit', 'off', true)
)
SELECT f.job_name, f.status, f.task_started_at, f.reason,
       (SELECT scheduled_tick FROM earlier), (SELECT task_started_at FROM stamped)
  FROM f
"""


def firing_start(*, task_id: str, in_order: bool = True) -> FiringStart:
    """Stamp the start of the firing whose message carries `task_id`, if this is its first and
    (`in_order`) no earlier tick of its job within the misfire grace is still to end.

    The stamp commits without waiting for the disk (as a run's claim does): a database crash
    that loses it makes the beat publish the firing again, which a started run ignores.
    """
    wait = settings.SCHEDULER_MISFIRE_GRACE_SECONDS if in_order else 0
    with connection.cursor() as cursor:
        cursor.execute(START_SQL, {"task_id": task_id, "wait": wait})
        row = cursor.fetchone()
    if row is None:
        return FiringStart(Start.NOT_A_FIRING)
    job_name, status, started_at, reason, earlier, stamped = row
    if stamped is not None:
        return FiringStart(Start.STARTED, job_name, stamped)
    if status == "skipped":
        return FiringStart(Start.MISSED, job_name, reason=reason)
    if earlier is not None:
        return FiringStart(Start.WAIT, job_name, earlier_tick=earlier)
    return FiringStart(Start.COPY, job_name, started_at)


FINISH_SQL = """
UPDATE tasks_firing SET task_ended_at = now()
 WHERE celery_task_id = %s AND task_ended_at IS NULL
RETURNING set_config('synchronous_commit', 'off', true)
"""


def firing_finish(*, task_id: str) -> None:
    """Stamp the end of the firing's task (done, or failed for good): its job's next tick may
    start."""
    with connection.cursor() as cursor:
        cursor.execute(FINISH_SQL, [task_id])
