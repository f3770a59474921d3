"""A beat's writes per tick: plan changed jobs, claim due ones into firings; one transaction each.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so any number of beats share the work and
none waits on another: a job locked by one beat is simply not seen by the next.
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

from tasks.models import FiringStatus, JobSchedule
from tasks.scheduling.celery_backend import job_arguments, trigger_of
from tasks.scheduling.messages import firing_kwargs, firing_task_id
from tasks.scheduling.ticks import Decision, Fire, decide, next_fire_time

logger = logging.getLogger(__name__)


def _locked(queryset: Any, limit: int) -> list[JobSchedule]:
    return list(
        queryset.select_related(
            "periodic_task__interval", "periodic_task__crontab"
        ).select_for_update(of=("self",), skip_locked=True)[:limit]
    )


def schedules_plan(*, limit: int = 1000) -> int:
    """Give each job whose schedule changed its next fire time; returns how many were planned.

    Disabled, expired and unreadable (solar, clocked) jobs get none and never fire.
    """
    with transaction.atomic():
        rows = _locked(JobSchedule.objects.filter(stale=True).order_by("changed_at"), limit)
        if not rows:
            return 0
        now = timezone.now()
        plans = [(row.pk, _planned(row, now)) for row in rows]
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tasks_jobschedule AS js SET next_fire_at = v.next, stale = false"
                " FROM unnest(%s::int[], %s::timestamptz[]) AS v(id, next)"
                " WHERE js.periodic_task_id = v.id",
                [[pk for pk, _ in plans], [next_at for _, next_at in plans]],
            )
    return len(rows)


def _planned(row: JobSchedule, now: datetime) -> datetime | None:
    task = row.periodic_task
    if not task.enabled or (task.expires is not None and task.expires <= now):
        return None
    trigger = trigger_of(task)
    if trigger is None:
        logger.warning("job %s: no interval or crontab this beat can fire; left idle", task.name)
        return None
    return next_fire_time(trigger, changed_at=row.changed_at, last_tick=row.last_tick)


@dataclass(frozen=True)
class Claimed:
    """What one claim committed: the firing ids to publish, and the counts for the log."""

    firing_ids: list[int]
    jobs: int
    refused: int
    skipped: int


def due_jobs_claim(*, beat_id: str, limit: int) -> Claimed:
    """Turn up to `limit` due jobs into firing rows and advance their next fire times, atomically.

    A firing is unique per (job, tick): an insert that meets an existing one is refused (and
    counted), never sent twice. The messages are published after the commit (`outbox`).
    """
    with transaction.atomic():
        now = timezone.now()
        due = JobSchedule.objects.filter(next_fire_at__lte=now, stale=False)
        rows = _locked(due.order_by("next_fire_at"), limit)
        if not rows:
            return Claimed([], 0, 0, 0)
        decisions = [(row, _decision(row, now)) for row in rows]
        firings = [_firing(row, fire, beat_id, now) for row, d in decisions for fire in d.fires]
        skips = [
            _firing(row, d.skipped, beat_id, now, FiringStatus.SKIPPED)
            for row, d in decisions
            if d.skipped is not None
        ]
        inserted = _insert_firings(firings + skips)
        _advance(decisions, now)
    refused = len(firings) + len(skips) - len(inserted)
    ids = [pk for pk, status in inserted if status == FiringStatus.PENDING]
    return Claimed(ids, len(rows), refused, len(skips))


def _decision(row: JobSchedule, now: datetime) -> Decision:
    trigger = trigger_of(row.periodic_task)
    if trigger is None or not row.periodic_task.enabled:
        return Decision()
    seconds = row.misfire_grace_seconds
    grace = timedelta(
        seconds=settings.SCHEDULER_MISFIRE_GRACE_SECONDS if seconds is None else seconds
    )
    assert row.next_fire_at is not None
    return decide(trigger, due=row.next_fire_at, now=now, grace=grace, policy=row.misfire_policy)


def _firing(
    row: JobSchedule, fire: Fire, beat_id: str, now: datetime, status: str = FiringStatus.PENDING
) -> tuple[Any, ...]:
    task = row.periodic_task
    args, kwargs = job_arguments(task)
    return (
        task.name,
        task.pk,
        fire.tick,
        task.task,
        json.dumps(args),
        json.dumps(firing_kwargs(task.task, kwargs, fire.tick, fire.trigger)),
        task.queue or "",
        firing_task_id(task.name, fire.tick),
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
RETURNING id, status
"""


def _insert_firings(rows: list[tuple[Any, ...]]) -> list[tuple[int, str]]:
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

# django-celery-beat's admin shows these; rows an editor holds are left for the next firing.
RUN_BOOKKEEPING = """
UPDATE django_celery_beat_periodictask AS pt
   SET last_run_at = %s, total_run_count = pt.total_run_count + 1
 WHERE pt.id IN (SELECT id FROM django_celery_beat_periodictask
                  WHERE id = ANY(%s) FOR UPDATE SKIP LOCKED)
"""


def _advance(decisions: list[tuple[JobSchedule, Decision]], now: datetime) -> None:
    columns: list[list[Any]] = [[], [], [], []]
    for row, decision in decisions:
        for column, value in zip(
            columns,
            (row.pk, decision.next_fire_at, decision.last_tick, decision.missed_ticks),
            strict=True,
        ):
            column.append(value)
    fired = [row.pk for row, decision in decisions if decision.fires]
    with connection.cursor() as cursor:
        cursor.execute(ADVANCE, columns)
        if fired:
            cursor.execute(RUN_BOOKKEEPING, [now, fired])
