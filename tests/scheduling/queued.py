"""Jobs whose messages go to a queue of their own that no worker reads, and what reached it:
for the tests of a beat's claim and outbox that run without a beat process."""

from __future__ import annotations

import json

import redis
from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from project.celery import app
from tasks.models import JobSchedule
from tasks.scheduling.beat import TickScheduler
from tasks.scheduling.dispatch import schedules_plan
from tasks.scheduling.outbox import firings_publish

# The reason a firing records when the broker refused it (Redis halted).
CAUSE = "broker unavailable (OperationalError: Connection refused)"


def job(name: str, every: int = 60, **schedule: object) -> PeriodicTask:
    """A job of the health check every `every` s on queue `tw-test-<name>`, planned, with
    these fields of its schedule row (`tasks.models.JobSchedule`) set."""
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    task = PeriodicTask.objects.create(
        name=name, task="health_check", interval=interval, queue=f"tw-test-{name}"
    )
    schedules_plan()
    if schedule:
        JobSchedule.objects.filter(pk=task.pk).update(**schedule)
    return task


def queued_ids(task: PeriodicTask) -> list[str]:
    """The task ids of the messages in the job's queue, oldest first."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        raw = client.lrange(task.queue, 0, -1)
        return [json.loads(message)["headers"]["id"] for message in raw]
    finally:
        client.close()


def publish_all() -> int:
    """What a beat's outbox publishes now of every firing due (none of its own in flight)."""
    return firings_publish(app=app, producer=TickScheduler(app=app, lazy=True).producer, own=[])
