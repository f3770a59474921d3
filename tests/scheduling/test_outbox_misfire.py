"""Firings the broker did not take within their grace are settled by the misfire rule, against
the real database and the real Redis (halted for the outage), without a beat process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from project.celery import app
from project.devstack.embedded import EmbeddedRedis
from tasks.models import Firing, JobSchedule
from tasks.scheduling.beat import TickScheduler
from tasks.scheduling.outbox import firings_settle_late
from tasks.selectors import firing_totals
from tests.faults.fixtures import embedded_redis, redis_outage  # noqa: F401 - fixtures
from tests.processes import wait_for
from tests.scheduling.queued import CAUSE, job, publish_all, queued_ids

pytestmark = pytest.mark.django_db(transaction=True)


def pending(task: PeriodicTask, *seconds_ago: int) -> list[Firing]:
    """Pending firings of `task` whose ticks were that many seconds ago (whole seconds)."""
    now = timezone.now().replace(microsecond=0)
    ticks = [now - timedelta(seconds=ago) for ago in seconds_ago]
    return [
        Firing.objects.create(
            job_name=task.name,
            periodic_task_id=task.pk,
            scheduled_tick=tick,
            task=task.task,
            celery_task_id=f"{task.name}@{tick.isoformat()}",
            queue=task.queue,
            created_at=tick,
        )
        for tick in ticks
    ]


def statuses(task: PeriodicTask) -> list[tuple[str, str, int]]:
    firings = Firing.objects.filter(job_name=task.name).order_by("scheduled_tick")
    return list(firings.values_list("status", "trigger", "missed_ticks"))


def test_under_coalesce_the_newest_late_firing_is_published_once_as_catch_up_and_older_missed():
    task = job("coalesce-late", every=60, misfire_grace_seconds=5)
    pending(task, 180, 120, 60)

    missed = firings_settle_late(cause=CAUSE)
    sent = publish_all()

    newest = Firing.objects.filter(job_name=task.name).latest("scheduled_tick")
    skipped = Firing.objects.filter(job_name=task.name, status="skipped")
    assert (missed, sent) == (2, 1)
    assert statuses(task) == [
        ("skipped", "schedule", 1),
        ("skipped", "schedule", 1),
        ("published", "catch_up", 0),
    ]
    assert all(CAUSE in firing.reason and "5s misfire grace" in firing.reason for firing in skipped)
    assert queued_ids(task) == [newest.celery_task_id]
    assert JobSchedule.objects.get(pk=task.pk).missed_ticks == 2


def test_under_skip_every_late_firing_is_missed_and_nothing_is_sent():
    task = job("skip-late", every=60, misfire_grace_seconds=5, misfire_policy="skip")
    pending(task, 120, 60)

    missed = firings_settle_late(cause=CAUSE)
    sent = publish_all()

    assert (missed, sent) == (2, 0)
    assert statuses(task) == [("skipped", "schedule", 1), ("skipped", "schedule", 1)]
    assert queued_ids(task) == []
    assert JobSchedule.objects.get(pk=task.pk).missed_ticks == 2


def test_a_newer_tick_within_the_grace_stands_in_for_the_late_ones():
    task = job("stand-in", every=10, misfire_grace_seconds=15)
    pending(task, 40, 30, 20, 3)

    missed = firings_settle_late(cause=CAUSE)
    sent = publish_all()

    assert (missed, sent) == (3, 1)
    assert [status for status, _, _ in statuses(task)] == ["skipped"] * 3 + ["published"]
    assert statuses(task)[-1] == ("published", "schedule", 0)


def test_missed_firings_count_in_the_metrics_missed_ticks():
    task = job("counted", every=60, misfire_grace_seconds=5, misfire_policy="skip")
    before = firing_totals(after_id=0)
    pending(task, 180, 120, 60)

    firings_settle_late(cause=CAUSE)

    after = firing_totals(after_id=0)
    assert after.missed_ticks - before.missed_ticks == 3
    assert after.fired.get(("skipped", "schedule"), 0) == 3


def test_a_firing_within_its_grace_is_left_pending_for_the_publish():
    task = job("in-grace", every=60, misfire_grace_seconds=60)
    pending(task, 30)

    missed = firings_settle_late(cause=CAUSE)

    assert missed == 0
    assert statuses(task) == [("pending", "schedule", 0)]


def ticking_until(scheduler: TickScheduler, condition: Callable[[], bool], what: str) -> None:
    """Run the beat's loop in this process until `condition()`; fail after 30 s."""

    def ticked() -> bool:
        scheduler.tick()
        return condition()

    wait_for(ticked, timeout=30, what=what, every=0.2)


def test_with_redis_down_past_the_grace_a_beat_records_the_ticks_missed_with_the_broker_error(
    redis_outage: EmbeddedRedis,  # noqa: F811 - fixture
) -> None:
    task = job("outage", every=1, misfire_grace_seconds=2, misfire_policy="skip")
    scheduler = TickScheduler(app=app, lazy=True)
    started = timezone.now()
    ticking_until(scheduler, lambda: published_after(task, started), "a tick published")
    down_at = timezone.now()
    redis_outage.halt()

    def missed_some() -> bool:
        return Firing.objects.filter(job_name=task.name, status="skipped").count() >= 3

    ticking_until(scheduler, missed_some, "three ticks missed")
    redis_outage.start()
    up_at = timezone.now()
    ticking_until(scheduler, lambda: published_after(task, up_at), "a tick published again")
    scheduler.close()

    skipped = Firing.objects.filter(job_name=task.name, status="skipped")
    published = Firing.objects.filter(job_name=task.name, status="published")
    assert all(firing.scheduled_tick >= down_at - timedelta(seconds=1) for firing in skipped)
    assert all(firing.reason.startswith("broker unavailable (") for firing in skipped)
    assert all("2s misfire grace" in firing.reason for firing in skipped)
    # The job counts these, beside any ticks the claim found late (the halt stalls this loop).
    every_firing = Firing.objects.filter(job_name=task.name)
    counted = sum(every_firing.values_list("missed_ticks", flat=True))
    assert JobSchedule.objects.get(pk=task.pk).missed_ticks == counted
    queued = queued_ids(task)
    assert len(queued) == len(set(queued))  # nothing published twice
    assert set(queued) <= set(published.values_list("celery_task_id", flat=True))
    assert not set(queued) & set(skipped.values_list("celery_task_id", flat=True))


def published_after(task: PeriodicTask, moment: datetime) -> bool:
    return Firing.objects.filter(
        job_name=task.name, status="published", published_at__gt=moment
    ).exists()
