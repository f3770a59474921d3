"""A real beat and worker: a tick whose messages take longer than the redelivery deadline to
drain is not published again while the worker drains it, and the one message the broker lost
meanwhile is published again once the queue has drained, and runs once."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis
from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from project.celery import app
from tasks.models import Firing
from tests.processes import start_beat, start_celery_worker, wait_for
from tests.scheduling.beats import duplicates, jobs_stop, published, ran_ticks
from tests.scheduling.tasks import SLOW_TICK_TASK

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JOBS = 20
WORK = 0.6  # seconds each run takes: one worker process drains a tick in about 12 s
DEADLINE = 3  # BEAT_REDELIVER_AFTER_SECONDS of the beat here
EVERY = 30  # seconds between a job's ticks: one tick is fired, then the jobs stop


def slow_jobs() -> str:
    """JOBS enabled jobs of the slow task on the default queue; returns their label."""
    label = uuid.uuid4().hex[:10]
    interval, _ = IntervalSchedule.objects.get_or_create(every=EVERY, period="seconds")
    PeriodicTask.objects.bulk_create(
        PeriodicTask(
            name=f"{label}-{i}",
            task=SLOW_TICK_TASK,
            interval=interval,
            args=json.dumps([label, f"{label}-{i}", WORK]),
        )
        for i in range(JOBS)
    )
    return label


def lose_the_newest_message(queue: str) -> str:
    """Take the message the worker would run last off the queue, as a broker losing it would;
    its task id."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        message = client.lpop(queue)  # kombu pushes on the left and takes from the right
    finally:
        client.close()
    assert message is not None, "the queue was empty"
    return json.loads(message)["headers"]["id"]


def test_a_tick_draining_past_the_deadline_is_not_published_again_and_a_lost_message_is() -> None:
    label = slow_jobs()
    worker = start_celery_worker(concurrency=1)
    beat = start_beat(BEAT_REDELIVER_AFTER_SECONDS=str(DEADLINE))
    try:
        wait_for(lambda: published(label) == JOBS, timeout=EVERY + 30, what="a tick published")
        jobs_stop(label)
        wait_for(lambda: ran_ticks(label), timeout=30, what="the worker to start the tick")
        lost = lose_the_newest_message(app.conf.task_default_queue)
        wait_for(
            lambda: len(ran_ticks(label)) == JOBS, timeout=120, what="every job's run of the tick"
        )
        time.sleep(2 * DEADLINE)  # a copy published late would have run by now
    finally:
        beat.stop()
        worker.stop()

    firings = list(Firing.objects.filter(job_name__startswith=f"{label}-"))
    republished = {firing.celery_task_id: firing.republished for firing in firings}
    waited = max(
        (f.task_started_at - f.scheduled_tick).total_seconds()
        for f in firings
        if f.celery_task_id != lost
    )
    runs = ran_ticks(label)
    assert waited > 2 * DEADLINE  # queued behind the others for longer than the deadline
    assert len({tick for _, tick in runs}) == 1
    assert duplicates(runs) == []
    assert len(runs) == JOBS
    assert republished.pop(lost) >= 1  # the lost one, published again once drained
    assert set(republished.values()) == {0}  # none of the others, though they waited
    assert all(firing.task_ended_at for firing in firings)
