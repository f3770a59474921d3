"""A beat's writes per tick: plan changed jobs, claim due ones into firings; one transaction each.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so any number of beats share the work and
none waits on another: a job locked by one beat is simply not seen by the next. The reads are
plain SQL over the few columns a tick needs: a burst of 1,000 due jobs builds no model objects.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from project.kernel.scheduling import Trigger
from tasks.models import FiringStatus
from tasks.scheduling.celery_backend import arguments_of, schedule_trigger
from tasks.scheduling.messages import firing_kwargs, firing_task_id
from tasks.scheduling.ticks import Decision, Fire, decide, decide_once, next_fire_time

logger = logging.getLogger(__name__)

JOBS = """
SELECT js.periodic_task_id, js.next_fire_at, js.changed_at, js.last_tick, js.misfire_policy,
       js.misfire_grace_seconds, pt.name, pt.task, pt.args, pt.kwargs, pt.queue, pt.enabled,
       pt.expires, pt.start_time, iv.every, iv.period, cr.minute, cr.hour, cr.day_of_month,
       cr.month_of_year, cr.day_of_week, cr.timezone, pt.one_off, ck.clocked_time
  FROM tasks_jobschedule AS js
  JOIN django_celery_beat_periodictask AS pt ON pt.id = js.periodic_task_id
  LEFT JOIN django_celery_beat_intervalschedule AS iv ON iv.id = pt.interval_id
  LEFT JOIN django_celery_beat_crontabschedule AS cr ON cr.id = pt.crontab_id
  LEFT JOIN django_celery_beat_clockedschedule AS ck ON ck.id = pt.clocked_id
 WHERE {where}
 ORDER BY {order}
 LIMIT %s
   FOR UPDATE OF js SKIP LOCKED
"""


@dataclass(frozen=True)
class Job:
    """The columns of one locked job a tick works with."""

    pk: int
    next_fire_at: datetime | None
    changed_at: datetime
    last_tick: datetime | None
    policy: str
    grace_seconds: int | None
    name: str
    task: str
    args: str
    kwargs: str
    queue: str | None
    enabled: bool
    expires: datetime | None
    start_time: datetime | None
    every: int | None
    period: str | None
    minute: str | None
    hour: str | None
    day_of_month: str | None
    month_of_year: str | None
    day_of_week: str | None
    zone: str | None
    one_off: bool
    clocked_time: datetime | None

    @property
    def once(self) -> bool:
        """Fires one tick, then is disabled, as django-celery-beat does: one-off and clocked."""
        return self.one_off or self.clocked_time is not None

    @property
    def trigger(self) -> Trigger | None:
        interval = (self.every, self.period) if self.every is not None else None
        cron = None
        if self.minute is not None:
            cron = (self.minute, self.hour, self.day_of_month, self.month_of_year)
            cron = (*cron, self.day_of_week, str(self.zone))
        return schedule_trigger(
            self.name, interval=interval, crontab=cron, start_time=self.start_time
        )


def _locked(where: str, order: str, params: list[Any], limit: int) -> list[Job]:
    with connection.cursor() as cursor:
        cursor.execute(JOBS.format(where=where, order=order), [*params, limit])
        return [Job(*row) for row in cursor.fetchall()]


PLAN_BATCH = 1000


def schedules_plan(*, limit: int = PLAN_BATCH) -> int:
    """Give each job whose schedule changed its next fire time; returns how many were planned.

    Disabled, expired and unreadable (solar) jobs get none and never fire; a clocked job's
    one tick is its clocked time.
    """
    with transaction.atomic():
        jobs = _locked("js.stale", "js.changed_at", [], limit)
        if not jobs:
            return 0
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tasks_jobschedule AS js SET next_fire_at = v.next, stale = false"
                " FROM unnest(%s::int[], %s::timestamptz[]) AS v(id, next)"
                " WHERE js.periodic_task_id = v.id",
                [[job.pk for job in jobs], [_planned(job, now) for job in jobs]],
            )
    return len(jobs)


def _planned(job: Job, now: datetime) -> datetime | None:
    if not job.enabled or (job.expires is not None and job.expires <= now):
        return None
    if job.clocked_time is not None:
        return job.clocked_time
    trigger = job.trigger
    if trigger is None:
        logger.warning("job %s: no interval, crontab or clocked time to fire; left idle", job.name)
        return None
    return next_fire_time(trigger, changed_at=job.changed_at, last_tick=job.last_tick)


@dataclass(frozen=True)
class Claimed:
    """What one claim committed: (tick, id) of the firings to publish, and counts for the log."""

    firings: list[tuple[datetime, int]]
    jobs: int
    refused: int
    skipped: int


def due_jobs_claim(*, beat_id: str, limit: int, ahead: timedelta = timedelta(0)) -> Claimed:
    """Turn up to `limit` jobs due within `ahead` into firing rows and advance their next fire
    times, atomically.

    A firing is unique per (job, tick): an insert that meets an existing one is refused (and
    counted), never sent twice. The messages are published after the commit, once their tick
    has come (`outbox`): claiming a moment ahead takes the claim off a burst's lateness.
    """
    with transaction.atomic():
        now = timezone.now() + ahead
        jobs = _locked("js.next_fire_at <= %s AND NOT js.stale", "js.next_fire_at", [now], limit)
        if not jobs:
            return Claimed([], 0, 0, 0)
        decisions = [(job, _decision(job, now)) for job in jobs]
        rows = [_firing(job, fire, beat_id, now) for job, d in decisions for fire in d.fires]
        skips = [
            _firing(job, d.skipped, beat_id, now, FiringStatus.SKIPPED)
            for job, d in decisions
            if d.skipped is not None
        ]
        inserted = _insert_firings(rows + skips)
        _advance(decisions, now)
    refused = len(rows) + len(skips) - len(inserted)
    firings = [(tick, pk) for pk, status, tick in inserted if status == FiringStatus.PENDING]
    return Claimed(sorted(firings), len(jobs), refused, len(skips))


def _decision(job: Job, now: datetime) -> Decision:
    trigger = job.trigger
    if (trigger is None and not job.once) or not job.enabled or job.next_fire_at is None:
        return Decision()
    seconds = job.grace_seconds
    if seconds is None:
        seconds = settings.SCHEDULER_MISFIRE_GRACE_SECONDS
    grace = timedelta(seconds=seconds)
    if job.once or trigger is None:
        return decide_once(due=job.next_fire_at, now=now, grace=grace, policy=job.policy)
    return decide(trigger, due=job.next_fire_at, now=now, grace=grace, policy=job.policy)


def _firing(
    job: Job, fire: Fire, beat_id: str, now: datetime, status: str = FiringStatus.PENDING
) -> tuple[Any, ...]:
    args, kwargs = arguments_of(job.name, job.args, job.kwargs)
    return (
        job.name,
        job.pk,
        fire.tick,
        job.task,
        json.dumps(args),
        json.dumps(firing_kwargs(job.task, kwargs, fire.tick, fire.trigger)),
        job.queue or "",
        firing_task_id(job.name, fire.tick),
        fire.trigger,
        fire.missed_ticks,
        status,
        now,
        beat_id,
    )


INSERT_FIRINGS = """
INSERT INTO tasks_firing (job_name, periodic_task_id, scheduled_tick, task, args, kwargs, queue,
                          celery_task_id, trigger, missed_ticks, status, created_at, beat_id)
SELECT v.job_name, v.pt, v.tick, v.task, v.args::jsonb, v.kwargs::jsonb, v.queue, v.task_id,
       v.trigger, v.missed, v.status, v.created, v.beat
  FROM unnest(%s::text[], %s::int[], %s::timestamptz[], %s::text[], %s::text[], %s::text[],
              %s::text[], %s::text[], %s::text[], %s::int[], %s::text[], %s::timestamptz[],
              %s::text[])
    AS v(job_name, pt, tick, task, args, kwargs, queue, task_id, trigger, missed, status,
         created, beat)
    ON CONFLICT DO NOTHING
RETURNING id, status, scheduled_tick
"""


def _insert_firings(rows: list[tuple[Any, ...]]) -> list[tuple[int, str, datetime]]:
    if not rows:
        return []
    with connection.cursor() as cursor:
        cursor.execute(INSERT_FIRINGS, [list(column) for column in zip(*rows, strict=True)])
        return list(cursor.fetchall())


ADVANCE = """
UPDATE tasks_jobschedule AS js
   SET next_fire_at = v.next, last_tick = COALESCE(v.last, js.last_tick),
       missed_ticks = js.missed_ticks + v.missed
  FROM unnest(%s::int[], %s::timestamptz[], %s::timestamptz[], %s::bigint[])
    AS v(id, next, last, missed)
 WHERE js.periodic_task_id = v.id
"""

# A one-off job that has had its tick is disabled, as django-celery-beat's scheduler does; the
# trigger on the row then takes it off the plan.
DISABLE_ONCE_FIRED = "UPDATE django_celery_beat_periodictask SET enabled = false WHERE id = ANY(%s)"

# django-celery-beat's admin shows these; rows an editor holds are left for the next firing.
RUN_BOOKKEEPING = """
UPDATE django_celery_beat_periodictask AS pt
   SET last_run_at = %s, total_run_count = pt.total_run_count + 1
 WHERE pt.id IN (SELECT id FROM django_celery_beat_periodictask
                  WHERE id = ANY(%s) FOR UPDATE SKIP LOCKED)
"""


def _advance(decisions: list[tuple[Job, Decision]], now: datetime) -> None:
    columns = [
        [job.pk for job, _ in decisions],
        [decision.next_fire_at for _, decision in decisions],
        [decision.last_tick for _, decision in decisions],
        [decision.missed_ticks for _, decision in decisions],
    ]
    fired = [job.pk for job, decision in decisions if decision.fires]
    done = [job.pk for job, decision in decisions if job.once and decision.last_tick]
    with connection.cursor() as cursor:
        cursor.execute(ADVANCE, columns)
        if fired:
            cursor.execute(RUN_BOOKKEEPING, [now, fired])
        if done:
            cursor.execute(DISABLE_ONCE_FIRED, [done])


HAND_BACK = """
WITH returned AS (
    DELETE FROM tasks_firing
     WHERE id = ANY(%s) AND status = 'pending' AND scheduled_tick > now()
    RETURNING periodic_task_id, scheduled_tick
)
UPDATE tasks_jobschedule AS js SET next_fire_at = LEAST(js.next_fire_at, r.tick)
  FROM (SELECT periodic_task_id, min(scheduled_tick) AS tick FROM returned GROUP BY 1) AS r
 WHERE js.periodic_task_id = r.periodic_task_id AND NOT js.stale
"""


def firings_hand_back(*, firing_ids: list[int]) -> int:
    """Undo claims whose tick has not come, so another beat fires them on time; a stopping
    beat calls it. Returns how many jobs went back."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(HAND_BACK, [firing_ids])
        return cursor.rowcount


# `min(changed_at) ... WHERE stale`, not `EXISTS (... WHERE stale)`: after a mass change the
# statistics may still say most rows are stale, and the planner then scans the whole table for
# EXISTS (59 ms an idle tick at 1,000,000 jobs); min() reads the partial index's first entry.
PROBE = """
SELECT (SELECT min(next_fire_at) FROM tasks_jobschedule WHERE next_fire_at IS NOT NULL),
       (SELECT min(changed_at) FROM tasks_jobschedule WHERE stale) IS NOT NULL,
       EXISTS (SELECT 1 FROM tasks_firing WHERE status = 'pending' AND scheduled_tick < %s),
       EXISTS (SELECT 1 FROM tasks_firing
                WHERE status = 'published' AND task_ended_at IS NULL AND published_at < %s)
"""


@dataclass(frozen=True)
class Probe:
    """What a tick has to do, read in one query: an idle tick is this and nothing else."""

    soonest: datetime | None
    stale: bool
    orphans: bool
    # Published firings whose task has not ended within the redelivery deadline (the requeue
    # then looks whether they started, and whether their worker lives).
    unstarted: bool


def beat_probe(*, adopt_before: datetime, unstarted_before: datetime) -> Probe:
    with connection.cursor() as cursor:
        cursor.execute(PROBE, [adopt_before, unstarted_before])
        return Probe(*cursor.fetchone())
