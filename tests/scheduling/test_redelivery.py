"""The outbox is the truth and the broker a cache of it: a published firing whose task never
started is published again with its task id, then recorded missed past its grace; a worker's
edge starts each firing once, and a job's ticks one at a time in order. Real PostgreSQL and
Redis, no beat process."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from tasks.models import Firing
from tasks.scheduling.messages import firing_task_id, is_firing_task_id, run_now_task_id
from tasks.scheduling.outbox import firings_requeue_unstarted, firings_settle_late
from tasks.scheduling.starts import START_SQL, Start, firing_finish, firing_start
from tests.processes import database_url, wait_for
from tests.scheduling.queued import CAUSE, job, publish_all, queued_ids

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


@pytest.fixture(autouse=True)
def deadline(settings: object) -> None:
    settings.BEAT_REDELIVER_AFTER_SECONDS = 10  # type: ignore[attr-defined]


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


def test_after_the_first_republish_the_deadline_is_doubled_once(settings: object) -> None:
    settings.BEAT_REDELIVER_AFTER_SECONDS = 5  # type: ignore[attr-defined]
    task = job("doubling", every=60, misfire_grace_seconds=60)
    once = published(task, seconds_ago=30, published_ago=7)
    often = published(task, seconds_ago=29, published_ago=11)
    Firing.objects.filter(pk=once.pk).update(republished=1)
    Firing.objects.filter(pk=often.pk).update(republished=4)

    requeued = firings_requeue_unstarted()  # 7 s < 10 s; 11 s > 10 s, never 80 s

    once.refresh_from_db()
    often.refresh_from_db()
    assert requeued == 1
    assert (once.status, often.status) == ("published", "pending")
    assert often.reason.startswith("published 5 time(s), not started within 10s")


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


def start_elsewhere(firing: Firing) -> psycopg.Connection:
    """Start the firing as another worker's process does: on its own session, which holds the
    firing's lease until it is closed."""
    worker = psycopg.connect(database_url(), autocommit=True)
    worker.execute(START_SQL, {"task_id": firing.celery_task_id, "wait": 60})
    return worker


def test_a_firing_running_elsewhere_is_left_alone_and_a_copy_of_it_not_run() -> None:
    task = job("running", every=60)
    firing = published(task, seconds_ago=30, published_ago=30)

    with start_elsewhere(firing):
        requeued = firings_requeue_unstarted()
        copy = firing_start(task_id=firing.celery_task_id)

    assert requeued == 0
    assert copy.start is Start.COPY


def test_a_firing_whose_worker_was_lost_is_put_back_and_its_copy_resumes_it() -> None:
    task = job("worker-lost", every=60)
    firing = published(task, seconds_ago=30, published_ago=30)
    start_elsewhere(firing).close()  # the worker's process dies: its session ends

    # The server frees the lease as the session's backend exits, a moment after the close.
    requeued = wait_for(firings_requeue_unstarted, timeout=30, what="the lease to be freed")
    sent = publish_all()
    copy = firing_start(task_id=firing.celery_task_id)
    firing_finish(firing_id=copy.firing_id)
    again = firing_start(task_id=firing.celery_task_id)

    firing.refresh_from_db()
    assert (requeued, sent) == (1, 1)
    assert firing.reason.startswith("published 1 time(s), its worker lost within 10s")
    assert copy.start is Start.RESUMED
    assert again.start is Start.COPY  # ended: nothing more to run
    assert firing.task_ended_at is not None


def test_a_later_tick_waits_until_the_earlier_one_of_its_job_ends() -> None:
    task = job("in-order", every=1)
    earlier = published(task, seconds_ago=3, published_ago=3)
    later = published(task, seconds_ago=2, published_ago=2)

    waiting = firing_start(task_id=later.celery_task_id)
    first = firing_start(task_id=earlier.celery_task_id)
    still = firing_start(task_id=later.celery_task_id)
    firing_finish(firing_id=first.firing_id)
    started = firing_start(task_id=later.celery_task_id)

    assert (waiting.start, waiting.earlier_tick) == (Start.WAIT, earlier.scheduled_tick)
    assert still.start is Start.WAIT  # started is not enough: it must have ended
    assert started.start is Start.STARTED


def test_a_later_tick_that_gave_up_waiting_starts_anyway() -> None:
    task = job("gave-up", every=1)
    published(task, seconds_ago=3, published_ago=3)
    later = published(task, seconds_ago=2, published_ago=2)

    assert firing_start(task_id=later.celery_task_id, in_order=False).start is Start.STARTED


def test_only_a_beat_firing_task_id_is_looked_up() -> None:
    tick = timezone.now()

    assert is_firing_task_id(firing_task_id("strategy_7", tick))
    assert not is_firing_task_id(run_now_task_id("strategy_7"))
    assert not is_firing_task_id("0b0e8b1c-3d0f-4a8e-9a53-5c1d1f1a7c11")
    assert firing_start(task_id=firing_task_id("no-such-job", tick)).start is Start.NOT_A_FIRING
