"""Helpers for tests with real beat processes: many interval jobs, and the ticks they ran."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime

import redis
from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tasks.models import Firing
from tests.processes import wait_for
from tests.scheduling.tasks import TICK_TASK


def interval_jobs(count: int, every: int, *, to_queue: bool = False) -> str:
    """`count` enabled jobs of the tick-recording task every `every` s; returns their label.

    With `to_queue` their messages go to a queue of their own that no worker reads, so a
    test counts exactly what the beats published (`queued_ticks`).
    """
    label = uuid.uuid4().hex[:10]
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    PeriodicTask.objects.bulk_create(
        PeriodicTask(
            name=f"{label}-{i}",
            task=TICK_TASK,
            interval=interval,
            args=json.dumps([label, f"{label}-{i}"]),
            queue=f"tw-test-{label}" if to_queue else None,
        )
        for i in range(count)
    )
    return label


def queued_ticks(label: str) -> list[tuple[str, datetime]]:
    """(job, tick) of every message in the label's queue, read from each message's task id."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        raw = client.lrange(f"tw-test-{label}", 0, -1)
    finally:
        client.close()
    keys = []
    for message in map(json.loads, raw):
        job, _, tick = message["headers"]["id"].partition("@")
        keys.append((job, datetime.fromisoformat(tick)))
    return keys


def jobs_stop(label: str) -> None:
    PeriodicTask.objects.filter(name__startswith=f"{label}-").update(enabled=False)


def ran_ticks(label: str) -> list[tuple[str, datetime]]:
    """(job, tick) of every run the worker recorded, duplicates included."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        raw = client.lrange(f"tw-test-ticks:{label}", 0, -1)
    finally:
        client.close()
    return [(job, datetime.fromisoformat(tick)) for job, tick, _ in map(json.loads, raw)]


def published(label: str) -> int:
    return Firing.objects.filter(job_name__startswith=f"{label}-", status="published").count()


def drained(label: str, timeout: float) -> list[tuple[str, datetime]]:
    """The runs once the worker has run as many ticks as were published; fails after
    `timeout` seconds."""

    def runs() -> list[tuple[str, datetime]] | None:
        ran = ran_ticks(label)
        return ran if len(ran) >= published(label) else None

    what = f"the worker to run every published tick of {label}"
    return wait_for(runs, timeout, what, every=0.5)  # type: ignore[return-value]


def duplicates(runs: list[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    return [key for key, seen in Counter(runs).items() if seen > 1]


def gaps(runs: list[tuple[str, datetime]], every: int) -> dict[str, int]:
    """Per job, the ticks missing between its first and last run on its grid."""
    ticks: dict[str, set[datetime]] = {}
    for job, tick in runs:
        ticks.setdefault(job, set()).add(tick)
    missing = {}
    for job, seen in ticks.items():
        span = (max(seen) - min(seen)).total_seconds() / every + 1
        if len(seen) != span:
            missing[job] = int(span - len(seen))
    return missing
