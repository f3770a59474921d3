"""A firing queued behind a backlog that live workers are draining is late, not lost: it is not
published again until its queue has been seen empty, and then one deadline later if it still
has not started; a queue no one takes from, or one seen empty, holds nothing back. Real
PostgreSQL and Redis, no beat process (tests/scheduling/test_beat_backlog.py runs one)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from tasks.models import Firing
from tasks.scheduling.backlog import Backlog, Held
from tasks.scheduling.outbox import firings_requeue_unstarted
from tests.scheduling.test_outbox_misfire import job
from tests.scheduling.test_redelivery import published, start_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE = 5


@pytest.fixture(autouse=True)
def deadline(settings: object) -> None:
    settings.BEAT_REDELIVER_AFTER_SECONDS = DEADLINE  # type: ignore[attr-defined]


@pytest.fixture
def task() -> PeriodicTask:
    return job("behind-a-backlog", every=60, misfire_grace_seconds=60)


def ago(seconds: float) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def statuses(*firings: Firing) -> list[str]:
    return [Firing.objects.get(pk=firing.pk).status for firing in firings]


def test_a_firing_queued_behind_messages_workers_are_taking_is_not_published_again(
    task: PeriodicTask,
) -> None:
    waiting = published(task, seconds_ago=30, published_ago=30)

    requeued = firings_requeue_unstarted(held=Held(queues=(task.queue,), busy=True, holding=True))

    assert requeued == 0
    assert statuses(waiting) == ["published"]


def test_a_lost_firing_is_published_again_one_deadline_after_its_queue_was_seen_empty(
    task: PeriodicTask,
) -> None:
    lost = published(task, seconds_ago=40, published_ago=40)
    drained = Held(queues=(task.queue,), empty_from=(ago(DEADLINE + 2),), empty_until=(ago(0),))
    just_drained = Held(queues=(task.queue,), empty_from=(ago(2),), empty_until=(ago(0),))

    held_back = firings_requeue_unstarted(held=just_drained)
    requeued = firings_requeue_unstarted(held=drained)

    assert (held_back, requeued) == (0, 1)
    assert statuses(lost) == ["pending"]


def test_a_firing_published_while_its_queue_was_seen_empty_keeps_the_plain_deadline(
    task: PeriodicTask,
) -> None:
    lost = published(task, seconds_ago=12, published_ago=12)
    # Empty at every look since long before its publish; another tick's burst is draining now.
    idle = Held(queues=(task.queue,), empty_from=(ago(60),), empty_until=(ago(3),), holding=True)

    requeued = firings_requeue_unstarted(held=idle)

    assert requeued == 1
    assert statuses(lost) == ["pending"]


def test_a_queue_no_worker_takes_from_holds_nothing_back(task: PeriodicTask) -> None:
    lost = published(task, seconds_ago=12, published_ago=12)

    requeued = firings_requeue_unstarted(held=Held(queues=(task.queue,), busy=True))

    assert requeued == 1
    assert statuses(lost) == ["pending"]


def test_a_firing_started_lately_tells_of_live_workers_before_the_looks_do(
    task: PeriodicTask,
) -> None:
    # Right after a publish the beat's look sees the queue grow, not shrink.
    waiting = published(task, seconds_ago=12, published_ago=12)
    running = published(task, seconds_ago=13, published_ago=13)
    worker = start_elsewhere(running)  # started now, its lease held
    try:
        requeued = firings_requeue_unstarted(held=Held(queues=(task.queue,), busy=True))
    finally:
        worker.close()

    assert requeued == 0
    assert statuses(waiting, running) == ["published", "published"]


def test_firings_on_another_queue_keep_the_plain_deadline(task: PeriodicTask) -> None:
    lost = published(task, seconds_ago=12, published_ago=12)

    requeued = firings_requeue_unstarted(held=Held(queues=("another",), busy=True, holding=True))

    assert requeued == 1
    assert statuses(lost) == ["pending"]


def test_the_hold_ends_at_the_jobs_misfire_grace_less_one_deadline() -> None:
    task = job("held-to-the-grace", every=60, misfire_grace_seconds=20)
    past = published(task, seconds_ago=16, published_ago=16)  # 16 s > 20 - 5
    within = published(task, seconds_ago=12, published_ago=12)

    requeued = firings_requeue_unstarted(held=Held(queues=(task.queue,), busy=True, holding=True))

    assert requeued == 1
    assert statuses(past, within) == ["pending", "published"]


def test_a_started_firing_whose_worker_was_lost_is_not_held_back(task: PeriodicTask) -> None:
    lost_worker = published(task, seconds_ago=12, published_ago=12)
    Firing.objects.filter(pk=lost_worker.pk).update(task_started_at=ago(11))

    requeued = firings_requeue_unstarted(held=Held(queues=(task.queue,), busy=True, holding=True))

    assert requeued == 1
    assert statuses(lost_worker) == ["pending"]


@pytest.fixture
def queue() -> Iterator[tuple[redis.Redis, str]]:
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    name = f"backlog-{uuid.uuid4().hex[:8]}"
    yield client, name
    client.delete(name)
    client.close()


def test_the_beats_looks_tell_a_draining_queue_from_an_empty_or_a_stuck_one(
    queue: tuple[redis.Redis, str],
) -> None:
    client, name = queue
    backlog = Backlog(
        broker_url=django_settings.REDIS_URL, queue=name, deadline=timedelta(seconds=DEADLINE)
    )
    start = timezone.now()

    def look(second: int) -> Held:
        backlog.look(now=start + timedelta(seconds=second))
        return backlog.held(now=start + timedelta(seconds=second))

    client.rpush(name, "a", "b", "c")
    first = look(0)  # holding messages, no one seen taking them yet
    client.lpop(name)
    taking = look(1)
    client.lpop(name, 2)
    drained = look(2)
    still_empty = look(3)
    client.rpush(name, "d")
    refilled = look(4)
    stuck = look(4 + DEADLINE + 1)  # nothing taken for longer than a deadline

    assert (first.holding, taking.holding, drained.holding) == (False, True, False)
    assert (first.busy, drained.busy) == (True, False)
    assert first.queues == ("", name)
    assert still_empty.empty_from == (start + timedelta(seconds=2),)
    assert still_empty.empty_until == (start + timedelta(seconds=3),)
    assert (refilled.holding, stuck.holding) == (True, False)
    assert stuck.empty_until == still_empty.empty_until


def test_without_an_answer_from_redis_nothing_is_held() -> None:
    backlog = Backlog(
        broker_url="redis://127.0.0.1:1/0", queue="celery", deadline=timedelta(seconds=5)
    )
    backlog.seen(3, now=timezone.now())

    backlog.look(now=timezone.now())

    assert backlog.held(now=timezone.now()) == Held()
