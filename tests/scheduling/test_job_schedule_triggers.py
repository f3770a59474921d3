"""The companion table follows every write to django-celery-beat's rows, even raw ones."""

from __future__ import annotations

import pytest
from django.db import connection
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from tasks.models import JobSchedule

pytestmark = pytest.mark.django_db


def _interval_task(name: str, every: int = 60) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    return PeriodicTask.objects.create(name=name, task="noop", interval=interval)


def _plan(task: PeriodicTask) -> None:
    JobSchedule.objects.filter(pk=task.pk).update(stale=False)


def test_a_new_periodic_task_gets_a_stale_companion_row() -> None:
    task = _interval_task("job-a")

    row = JobSchedule.objects.get(pk=task.pk)

    assert row.stale
    assert row.next_fire_at is None
    assert row.misfire_policy == "coalesce"


def test_a_bulk_update_of_the_schedule_marks_the_row_stale() -> None:
    task = _interval_task("job-b")
    _plan(task)
    other = IntervalSchedule.objects.create(every=7, period="seconds")

    PeriodicTask.objects.filter(pk=task.pk).update(interval=other)

    assert JobSchedule.objects.get(pk=task.pk).stale


def test_run_bookkeeping_leaves_the_plan_alone() -> None:
    task = _interval_task("job-c")
    _plan(task)

    PeriodicTask.objects.filter(pk=task.pk).update(total_run_count=5, kwargs='{"a": 1}')

    assert not JobSchedule.objects.get(pk=task.pk).stale


def test_editing_a_shared_interval_row_marks_every_job_on_it_stale() -> None:
    first, second = _interval_task("job-d", every=11), _interval_task("job-e", every=11)
    _plan(first)
    _plan(second)

    IntervalSchedule.objects.filter(pk=first.interval_id).update(every=12)

    assert JobSchedule.objects.filter(pk__in=[first.pk, second.pk], stale=True).count() == 2


def test_editing_a_crontab_row_marks_its_jobs_stale() -> None:
    cron = CrontabSchedule.objects.create(minute="0", hour="3", timezone="Europe/Berlin")
    task = PeriodicTask.objects.create(name="job-f", task="noop", crontab=cron)
    _plan(task)

    CrontabSchedule.objects.filter(pk=cron.pk).update(timezone="America/New_York")

    assert JobSchedule.objects.get(pk=task.pk).stale


def test_a_raw_delete_removes_the_companion_row() -> None:
    task = _interval_task("job-g")

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_celery_beat_periodictask WHERE id = %s", [task.pk])

    assert not JobSchedule.objects.filter(pk=task.pk).exists()
