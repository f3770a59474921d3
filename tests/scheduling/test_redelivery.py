"""The outbox is the truth and the broker a cache of it: a published firing whose task never
started is published again with its task id, then recorded missed past its grace; a worker's
edge starts each firing once, and a job's ticks one at a time in order. Real PostgreSQL and
Redis, no beat process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from tasks.models import Firing
from tasks.scheduling.messages import firing_task_id, is_firing_task_id, run_now_task_id
from tasks.scheduling.outbox import firings_requeue_unstarted, firings_settle_late
from tasks.scheduling.starts import Start, firing_finish, firing_start
from tests.scheduling.test_outbox_misfire import CAUSE, job, publish_all, queued_ids

pytestmark = pytest.mark.django_db(transaction=True)


def published(task: PeriodicTask, seconds_ago: float, published_ago: float) -> Firing:
    """A firing of `task` published `published_ago` seconds ago whose task never started."""
    now = timezone.now().replace(microsecond=0)
    tick = now - timedelta(seconds=seconds_ago)
    return Firing.objects.create(
        job_name=task.name,
        periodic_task_id=task.pk,
        scheduled_tick=tick,
        task=task.task,
        celery_task_id=firing_task_id(task.name, tick),
        queue=task.queue,
        created_at=tick,
        status="published",
        published_at=now - timedelta(seconds=published_ago),
    )


def test_a_firing_not_started_within_the_deadline_is_published_again_with_its_task_id(
    settings: object,
) -> None:
    settings.BEAT_REDELIVER_AFTER_SECONDS = 5  # type: ignore[attr-defined]
    task = job("lost-in-broker", every=60, misfire_grace_seconds=60)
    lost = published(task, seconds_ago=12, published_ago=12)
    recent = published(task, seconds_ago=2, published_ago=2)

    requeued = firings_requeue_unstarted()
    sent = publish_all()

    lost.refresh_from_db()
    recent.refresh_from_db()
    assert (requeued, sent) == (1, 1)
    assert queued_ids(task) == [lost.celery_task_id]
    assert (lost.status, lost.republished) == ("published", 1)
    assert lost.reason.startswith("published 1 time(s), not started within 5s")
    assert (recent.status, recent.republished) == ("published", 0)


def test_the_deadline_doubles_with_each_republish(settings: object) -> None:
    settings.BEAT_REDELIVER_AFTER_SECONDS = 5  # type: ignore[attr-defined]
    task = job("doubling", every=60, misfire_grace_seconds=60)
    once = published(task, seconds_ago=20, published_ago=7)
    Firing.objects.filter(pk=once.pk).update(republished=1)

    assert firings_requeue_unstarted() == 0  # 7 s < 10 s: its second deadline
    Firing.objects.filter(pk=once.pk).update(published_at=timezone.now() - timedelta(seconds=11))
    assert firings_requeue_unstarted() == 1


def test_a_firing_never_started_within_its_grace_is_recorded_missed_with_the_reason(
    settings: object,
) -> None:
    settings.BEAT_REDELIVER_AFTER_SECONDS = 5  # type: ignore[attr-defined]
    task = job("never-started", every=60, misfire_grace_seconds=10, misfire_policy="skip")
    lost = published(task, seconds_ago=30, published_ago=20)

    firings_requeue_unstarted()
    missed = firings_settle_late(cause=CAUSE)
    sent = publish_all()

    lost.refresh_from_db()
    assert (missed, sent) == (1, 0)
    assert (lost.status, lost.missed_ticks) == ("skipped", 1)
    assert "not started within 5s: the broker lost it or no worker took it" in lost.reason
    assert "not started within the 10s misfire grace" in lost.reason
    assert CAUSE not in lost.reason
    assert firing_start(task_id=lost.celery_task_id).start is Start.MISSED


def test_a_started_firing_is_never_put_back() -> None:
    task = job("started", every=60)
    firing = published(task, seconds_ago=30, published_ago=30)

    first = firing_start(task_id=firing.celery_task_id)
    requeued = firings_requeue_unstarted()

    assert first.start is Start.STARTED
    assert requeued == 0
    assert firing_start(task_id=firing.celery_task_id).start is Start.COPY


def test_a_later_tick_waits_until_the_earlier_one_of_its_job_ends() -> None:
    task = job("in-order", every=1)
    earlier = published(task, seconds_ago=3, published_ago=3)
    later = published(task, seconds_ago=2, published_ago=2)

    waiting = firing_start(task_id=later.celery_task_id)
    firing_start(task_id=earlier.celery_task_id)
    still = firing_start(task_id=later.celery_task_id)
    firing_finish(task_id=earlier.celery_task_id)
    started = firing_start(task_id=later.celery_task_id)

    assert (waiting.start, waiting.earlier_tick) == (Start.WAIT, earlier.scheduled_tick)
    assert still.start is Start.WAIT  # started is not enough: it must have ended
    assert started.start is Start.STARTED
    assert firing_start(task_id=later.celery_task_id, in_order=False).start is Start.COPY


def test_only_a_beat_firing_task_id_is_looked_up() -> None:
    tick = timezone.now()

    assert is_firing_task_id(firing_task_id("strategy_7", tick))
    assert not is_firing_task_id(run_now_task_id("strategy_7"))
    assert not is_firing_task_id("0b0e8b1c-3d0f-4a8e-9a53-5c1d1f1a7c11")
    assert firing_start(task_id=firing_task_id("no-such-job", tick)).start is Start.NOT_A_FIRING
