"""django-celery-beat's one-off and clocked jobs under our beat: one tick each, then disabled,
as its own scheduler does. Real database, no beat process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, IntervalSchedule, PeriodicTask

from tasks.models import Firing, JobSchedule
from tasks.scheduling.dispatch import due_jobs_claim, schedules_plan

pytestmark = pytest.mark.django_db(transaction=True)


def clocked_job(name: str, *, at_offset: timedelta) -> PeriodicTask:
    clocked = ClockedSchedule.objects.create(clocked_time=timezone.now() + at_offset)
    task = PeriodicTask.objects.create(
        name=name, task="health_check", clocked=clocked, one_off=True, queue=f"tw-test-{name}"
    )
    schedules_plan()
    return task


def test_a_clocked_job_fires_once_at_its_time_and_is_then_disabled() -> None:
    task = clocked_job("clocked-now", at_offset=timedelta(seconds=-1))

    first = due_jobs_claim(beat_id="test", limit=10)
    schedules_plan()
    second = due_jobs_claim(beat_id="test", limit=10)

    firing = Firing.objects.get(job_name="clocked-now")
    task.refresh_from_db()
    assert (first.jobs, len(first.firings), second.jobs) == (1, 1, 0)
    assert firing.scheduled_tick == task.clocked.clocked_time
    assert firing.trigger == "schedule"
    assert task.enabled is False
    assert JobSchedule.objects.get(pk=task.pk).next_fire_at is None


def test_a_clocked_job_is_planned_at_its_time_and_follows_an_edit_of_it() -> None:
    task = clocked_job("clocked-later", at_offset=timedelta(hours=1))
    planned = JobSchedule.objects.get(pk=task.pk).next_fire_at

    moved = task.clocked.clocked_time + timedelta(hours=2)
    ClockedSchedule.objects.filter(pk=task.clocked_id).update(clocked_time=moved)
    schedules_plan()

    assert planned == task.clocked.clocked_time
    assert JobSchedule.objects.get(pk=task.pk).next_fire_at == moved
    assert due_jobs_claim(beat_id="test", limit=10).jobs == 0


def test_a_clocked_job_later_than_its_grace_is_skipped_under_the_skip_policy() -> None:
    task = clocked_job("clocked-missed", at_offset=timedelta(hours=-1))
    JobSchedule.objects.filter(pk=task.pk).update(misfire_policy="skip")

    claimed = due_jobs_claim(beat_id="test", limit=10)

    firing = Firing.objects.get(job_name="clocked-missed")
    task.refresh_from_db()
    assert (claimed.firings, claimed.skipped) == ([], 1)
    assert (firing.status, firing.missed_ticks) == ("skipped", 1)
    assert task.enabled is False


def test_a_one_off_interval_job_fires_its_first_tick_only() -> None:
    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    task = PeriodicTask.objects.create(
        name="one-off", task="health_check", interval=interval, one_off=True, queue="tw-test-1"
    )
    schedules_plan()
    tick = JobSchedule.objects.get(pk=task.pk).next_fire_at
    JobSchedule.objects.filter(pk=task.pk).update(next_fire_at=timezone.now())

    first = due_jobs_claim(beat_id="test", limit=10)
    schedules_plan()
    JobSchedule.objects.filter(pk=task.pk).update(next_fire_at=tick)
    second = due_jobs_claim(beat_id="test", limit=10, ahead=timedelta(minutes=2))

    task.refresh_from_db()
    assert (first.jobs, len(first.firings)) == (1, 1)
    assert second.firings == []
    assert task.enabled is False
    assert Firing.objects.filter(job_name="one-off").count() == 1
