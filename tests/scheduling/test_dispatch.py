"""A beat's claim and outbox against the real database and Redis, without a beat process."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from project.celery import app
from tasks.models import Firing, JobSchedule
from tasks.retention import firings_delete_expired
from tasks.scheduling.beat import TickScheduler
from tasks.scheduling.dispatch import due_jobs_claim, firings_hand_back
from tasks.scheduling.outbox import firings_publish
from tests.processes import wait_for
from tests.scheduling.queued import job, publish_all, queued_ids

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_planned_after_a_change_fires_from_its_next_tick() -> None:
    task = job("fresh")

    row = JobSchedule.objects.get(pk=task.pk)

    assert row.stale is False
    assert row.next_fire_at > timezone.now() - timedelta(seconds=1)
    assert row.next_fire_at.timestamp() % 60 == 0


def half_an_hour_ago() -> datetime:
    """A minute tick 30 minutes back, now being well inside a minute (the grace is 1 s)."""
    wait_for(lambda: 2 <= timezone.now().second <= 57, 10, "a moment inside a minute", every=0.5)
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=30)


def test_ticks_missed_while_no_beat_ran_coalesce_into_one_catch_up_run() -> None:
    task = job("coalesced", next_fire_at=half_an_hour_ago(), misfire_grace_seconds=1)

    claimed = due_jobs_claim(beat_id="test", limit=10)

    firing = Firing.objects.get(job_name="coalesced")
    assert claimed.jobs == 1
    assert firing.trigger == "catch_up"
    assert firing.missed_ticks == 30
    assert firing.scheduled_tick == timezone.now().replace(second=0, microsecond=0)
    assert JobSchedule.objects.get(pk=task.pk).missed_ticks == firing.missed_ticks
    assert JobSchedule.objects.get(pk=task.pk).next_fire_at > timezone.now()


def test_under_the_skip_policy_missed_ticks_are_recorded_and_not_sent() -> None:
    task = job(
        "skipped", next_fire_at=half_an_hour_ago(), misfire_policy="skip", misfire_grace_seconds=1
    )

    claimed = due_jobs_claim(beat_id="test", limit=10)
    sent = publish_all()

    firing = Firing.objects.get(job_name="skipped")
    assert (claimed.skipped, [pk for _, pk in claimed.firings], sent) == (1, [], 0)
    assert (firing.status, firing.missed_ticks) == ("skipped", 31)
    assert queued_ids(task) == []


def test_a_tick_that_has_a_firing_already_is_refused_not_sent_twice() -> None:
    tick = timezone.now().replace(microsecond=0) - timedelta(seconds=1)
    job("twice", every=1, next_fire_at=tick)
    due_jobs_claim(beat_id="first", limit=10)
    JobSchedule.objects.update(next_fire_at=tick)  # as if a second beat saw the same tick

    claimed = due_jobs_claim(beat_id="second", limit=10)

    assert claimed.refused >= 1
    assert Firing.objects.filter(job_name="twice", scheduled_tick=tick).count() == 1


def test_a_committed_firing_its_beat_never_published_is_published_by_another() -> None:
    tick = half_an_hour_ago() + timedelta(minutes=30)  # this minute's tick, 2-57 s ago
    task = job("orphan", next_fire_at=tick)
    claimed = due_jobs_claim(beat_id="died-before-publishing", limit=10)
    producer = TickScheduler(app=app, lazy=True).producer
    # An orphan is a firing whose tick passed 2 s ago, still pending.
    wait_for(lambda: timezone.now() - tick >= timedelta(seconds=3), 10, "the firing to be orphaned")

    sent = firings_publish(app=app, producer=producer, own=[])

    firing = Firing.objects.get(job_name="orphan")
    assert [pk for _, pk in claimed.firings] == [firing.pk]
    assert firing.scheduled_tick == tick
    assert (sent, firing.status) == (1, "published")
    assert queued_ids(task) == [firing.celery_task_id]


def test_a_stopping_beat_hands_back_claims_whose_tick_has_not_come() -> None:
    soon = timezone.now().replace(microsecond=0) + timedelta(seconds=30)
    task = job("ahead", every=3600, next_fire_at=soon)
    claimed = due_jobs_claim(beat_id="stopping", limit=10, ahead=timedelta(seconds=31))

    returned = firings_hand_back(firing_ids=[pk for _, pk in claimed.firings])

    assert [tick for tick, _ in claimed.firings] == [soon]
    assert returned == 1
    assert not Firing.objects.filter(job_name="ahead").exists()
    assert JobSchedule.objects.get(pk=task.pk).next_fire_at == soon


def test_retention_deletes_old_sent_firings_and_keeps_pending_ones() -> None:
    now = timezone.now()
    for name, days, status in (
        ("old", 8, "published"),
        ("new", 1, "published"),
        ("due", 8, "pending"),
    ):
        Firing.objects.create(
            job_name=name,
            periodic_task_id=1,
            scheduled_tick=now - timedelta(days),
            task="health_check",
            celery_task_id=f"{name}@x",
            status=status,
            created_at=now,
        )

    deleted = firings_delete_expired(now=now)

    assert deleted == 1
    assert sorted(Firing.objects.values_list("job_name", flat=True)) == ["due", "new"]
