"""The Celery beat backend: django-celery-beat rows, written in the caller's transaction."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
)

from project.kernel.scheduling import (
    EPOCH,
    CrontabTrigger,
    DesiredJobs,
    IntervalTrigger,
    InvalidTrigger,
    JobNotFound,
    JobRecord,
    JobsSync,
    Scheduler,
    SchedulerError,
    SchedulerGauges,
    Trigger,
)
from tasks.heartbeat import beat_heartbeat_read
from tasks.models import JobSchedule
from tasks.scheduling.beat_liveness import beats_described, beats_firing
from tasks.scheduling.broker import BROKER_ERRORS, broker_unavailable
from tasks.scheduling.celery_sync import celery_jobs_sync
from tasks.scheduling.common import first_tick_after, json_arguments
from tasks.scheduling.messages import run_now_task_id
from tasks.selectors import due_jobs_count, live_beats, overdue_jobs

logger = logging.getLogger(__name__)

# A job this much behind its tick means beat is not running (or not keeping up).
OVERDUE_AFTER = timedelta(minutes=2)


class CeleryBeatScheduler(Scheduler):
    """Jobs as `PeriodicTask` rows; the `celery beat` process fires them.

    Every write happens in the caller's transaction: a rolled-back strategy leaves no job.
    Database triggers keep each row's next fire time (`tasks.models.JobSchedule`) in step.
    Interval jobs fire on their grid (`tasks.scheduling.beat`), not "N seconds after the last
    run" as django-celery-beat's stock interval schedule does; the anchor is `start_time`.
    """

    def add_job(
        self,
        job_id: str,
        task: str,
        trigger: Trigger,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        start_immediately: bool = False,
        description: str = "",
    ) -> JobRecord:
        plain_args, plain_kwargs = json_arguments(args, kwargs)
        if PeriodicTask.objects.filter(name=job_id).exists():
            raise SchedulerError(f"a job named {job_id!r} exists already")
        row = PeriodicTask(
            name=job_id,
            task=task,
            args=json.dumps(plain_args),
            kwargs=json.dumps(plain_kwargs),
            enabled=True,
            description=description,
        )
        _set_trigger(row, trigger)
        row.save()
        if start_immediately:
            transaction.on_commit(lambda: self._send(row, {}), robust=True)
        return _record(row, trigger)

    def update_job(
        self,
        job_id: str,
        *,
        task: str | None = None,
        trigger: Trigger | None = None,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> JobRecord:
        row = _row(job_id)
        if args is not None or kwargs is not None:
            current_args, current_kwargs = job_arguments(row)
            plain_args, plain_kwargs = json_arguments(
                current_args if args is None else args,
                current_kwargs if kwargs is None else kwargs,
            )
            row.args, row.kwargs = json.dumps(plain_args), json.dumps(plain_kwargs)
        if task is not None:
            row.task = task
        if description is not None:
            row.description = description
        if trigger is not None:
            _set_trigger(row, trigger)
        row.save()
        return _record(row)

    def remove_job(self, job_id: str) -> None:
        _row(job_id).delete()

    def get_job(self, job_id: str) -> JobRecord | None:
        row = _rows().filter(name=job_id).first()
        if row is None:
            return None
        trigger = trigger_of(row)
        return _record(row, trigger) if trigger is not None else None

    def get_jobs(self) -> list[JobRecord]:
        records = []
        for row in _rows().order_by("name"):
            trigger = trigger_of(row)
            if trigger is not None:
                records.append(_record(row, trigger))
        return records

    def pause_job(self, job_id: str) -> JobRecord:
        row = _row(job_id)
        row.enabled = False
        row.save()
        return _record(row)

    def resume_job(self, job_id: str) -> JobRecord:
        row = _row(job_id)
        row.enabled = True
        row.save()
        return _record(row)

    def run_job_now(self, job_id: str, kwargs: Mapping[str, Any] | None = None) -> str:
        return self._send(_row(job_id), kwargs or {})

    def start(self) -> None:
        """Nothing to start here: the separate `celery beat` process fires the rows."""

    def shutdown(self) -> None:
        """Nothing to stop: see `start`."""

    def jobs_sync(self, desired: DesiredJobs, *, full: bool = False) -> JobsSync:
        """A fixed number of SQL statements on django-celery-beat's tables (`celery_sync`)."""
        return celery_jobs_sync(desired, full=full)

    def health(self) -> str:
        """No overdue job, and a live beat: one indexed count over the beat's next fire times
        (never a job list), one look for a job to fire, one at the live beats."""
        overdue, example = overdue_jobs(late_by=OVERDUE_AFTER)
        if overdue:
            raise SchedulerError(
                f"celery beat is not firing jobs: {overdue} overdue by more than "
                f"{OVERDUE_AFTER}, e.g. {example} (is beat running?)"
            )
        return f"celery beat: none overdue, {beats_firing()}"

    def processes(self) -> list[dict[str, Any]]:
        return beats_described()

    def due_jobs_count(self) -> int:
        return due_jobs_count()

    def gauges(self) -> SchedulerGauges:
        """The live firing beats and their latest heartbeat (their rows); the jobs from one
        aggregate over the rows and the earliest planned fire time (indexed)."""
        heartbeat = beat_heartbeat_read()
        jobs = _rows().aggregate(
            jobs_enabled=Count("id", filter=Q(enabled=True)),
            jobs_paused=Count("id", filter=Q(enabled=False)),
            latest_run=Max("last_run_at"),
        )
        return SchedulerGauges(
            firing_processes=sum(beat.firing for beat in live_beats()),
            heartbeat_at=datetime.fromtimestamp(heartbeat, UTC) if heartbeat else None,
            jobs_enabled=jobs["jobs_enabled"],
            jobs_paused=jobs["jobs_paused"],
            next_run_at=JobSchedule.objects.aggregate(first=Min("next_fire_at"))["first"],
            last_run_at=jobs["latest_run"],
        )

    def _send(self, row: PeriodicTask, extra_kwargs: Mapping[str, Any]) -> str:
        args, kwargs = job_arguments(row)
        kwargs = {**kwargs, **extra_kwargs}
        options = {"queue": row.queue} if row.queue else {}
        try:
            result = current_app.send_task(
                row.task, args=args, kwargs=kwargs, task_id=run_now_task_id(row.name), **options
            )
        except BROKER_ERRORS as error:
            # Nothing was sent, so nothing ran: the caller answers "try again" (a 503).
            raise SchedulerError(f"job {row.name} not sent: {broker_unavailable(error)}") from error
        logger.info("job %s: sent %s now, task id %s", row.name, row.task, result.id)
        return str(result.id)


def _rows() -> QuerySet[PeriodicTask]:
    """The rows this interface models: interval and crontab schedules (not solar, clocked)."""
    return PeriodicTask.objects.select_related("interval", "crontab").filter(
        Q(interval__isnull=False) | Q(crontab__isnull=False)
    )


def _row(job_id: str) -> PeriodicTask:
    try:
        return PeriodicTask.objects.select_related("interval", "crontab").get(name=job_id)
    except PeriodicTask.DoesNotExist:
        raise JobNotFound(f"no job named {job_id!r}") from None


def job_arguments(row: PeriodicTask) -> tuple[list[Any], dict[str, Any]]:
    return arguments_of(row.name, row.args, row.kwargs)


def arguments_of(
    name: str, args: str | None, kwargs: str | None
) -> tuple[list[Any], dict[str, Any]]:
    """A row's stored arguments; text that is not a JSON list and object reads as empty."""
    try:
        values, keywords = json.loads(args or "[]"), json.loads(kwargs or "{}")
    except ValueError:
        logger.warning("job %s: its args or kwargs are not JSON; reading them as empty", name)
        return [], {}
    return (values if isinstance(values, list) else []), (
        keywords if isinstance(keywords, dict) else {}
    )


def _set_trigger(row: PeriodicTask, trigger: Trigger) -> None:
    """Point the row at a shared schedule row for `trigger` (created if none matches)."""
    if isinstance(trigger, IntervalTrigger):
        every = {"every": trigger.seconds, "period": IntervalSchedule.SECONDS}
        row.interval = IntervalSchedule.objects.filter(**every).order_by(
            "pk"
        ).first() or IntervalSchedule.objects.create(**every)
        row.crontab = None
        # The grid's anchor; None stands for the Unix epoch.
        row.start_time = None if trigger.anchor == EPOCH else trigger.anchor
    elif isinstance(trigger, CrontabTrigger):
        fields = {
            "minute": trigger.minute,
            "hour": trigger.hour,
            "day_of_month": trigger.day_of_month,
            "month_of_year": trigger.month_of_year,
            "day_of_week": trigger.day_of_week,
            "timezone": trigger.timezone,
        }
        row.crontab = CrontabSchedule.objects.filter(**fields).order_by(
            "pk"
        ).first() or CrontabSchedule.objects.create(**fields)
        row.interval = None
        row.start_time = None
    else:
        raise InvalidTrigger(f"not a trigger: {trigger!r}")
    row.solar = None
    row.clocked = None


@functools.lru_cache(maxsize=4096)
def interval_trigger(
    every: int, period: str, start_time: datetime | None
) -> IntervalTrigger | None:
    """The grid of an interval row: `start_time` anchors it (the epoch when empty)."""
    seconds = timedelta(**{period: every}).total_seconds()
    if seconds < 1 or seconds != int(seconds):
        return None
    anchor = start_time.astimezone(UTC) if start_time else EPOCH
    return IntervalTrigger(int(seconds), anchor=anchor)


def trigger_of(row: PeriodicTask) -> Trigger | None:
    """The row's trigger, or None for schedules this interface does not model."""
    interval = (row.interval.every, row.interval.period) if row.interval is not None else None
    cron = row.crontab
    fields = None
    if cron is not None:
        fields = (
            cron.minute,
            cron.hour,
            cron.day_of_month,
            cron.month_of_year,
            cron.day_of_week,
            str(cron.timezone),
        )
    return schedule_trigger(row.name, interval=interval, crontab=fields, start_time=row.start_time)


def schedule_trigger(
    name: str,
    *,
    interval: tuple[int, str] | None,
    crontab: tuple[str, ...] | None,
    start_time: datetime | None,
) -> Trigger | None:
    """The trigger of a row's interval or crontab columns; None (logged) when unreadable."""
    try:
        if interval is not None:
            return interval_trigger(*interval, start_time)
        if crontab is not None:
            return crontab_trigger(*crontab)
    except InvalidTrigger as error:
        logger.warning("job %s: its schedule cannot be read: %s", name, error)
    return None


@functools.lru_cache(maxsize=4096)
def crontab_trigger(*fields: str) -> CrontabTrigger:
    """A crontab trigger per distinct row: parsing one costs far more than a beat tick."""
    *cron, zone = fields
    return CrontabTrigger(*cron, timezone=zone)


def _record(row: PeriodicTask, trigger: Trigger | None = None) -> JobRecord:
    trigger = trigger or trigger_of(row)
    if trigger is None:
        raise SchedulerError(f"job {row.name!r} has a schedule this interface cannot read")
    args, kwargs = job_arguments(row)
    return JobRecord(
        id=row.name,
        task=row.task,
        trigger=trigger,
        args=tuple(args),
        kwargs=kwargs,
        enabled=row.enabled,
        next_run_at=first_tick_after(trigger, timezone.now()) if row.enabled else None,
        last_run_at=row.last_run_at,
        description=row.description,
    )
