"""A test-only task that records each run in Redis (loaded by CELERY_EXTRA_IMPORTS)."""

from __future__ import annotations

import json
import os
import time

import redis
from celery import shared_task
from django.conf import settings

RECORD_TASK = "tests.record_run"


@shared_task(name=RECORD_TASK)
def record_run(label: str, note: str = "") -> dict[str, object]:
    entry = {"label": label, "at": time.time(), "pid": os.getpid(), "note": note}
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.rpush(f"tw-test-runs:{label}", json.dumps(entry))
    finally:
        client.close()
    return entry


TICK_TASK = "tests.record_tick"


@shared_task(name=TICK_TASK)
def record_tick(label: str, job: str, scheduled_tick: str | None = None) -> str | None:
    """Record the tick each run was fired for, to count runs per (job, tick)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.rpush(f"tw-test-ticks:{label}", json.dumps([job, scheduled_tick, time.time()]))
    finally:
        client.close()
    return scheduled_tick


CATCH_UP_TASK = "tests.record_trigger"


@shared_task(name=CATCH_UP_TASK)
def record_trigger(scheduled_tick: str | None = None, trigger: str = "schedule") -> str:
    """A task that takes the `trigger` kwarg, as `execute_single_strategy` will."""
    return f"{scheduled_tick} {trigger}"


SLOW_TICK_TASK = "tests.record_tick_slowly"


@shared_task(name=SLOW_TICK_TASK)
def record_tick_slowly(
    label: str, job: str, seconds: float, scheduled_tick: str | None = None
) -> str | None:
    """`record_tick` after `seconds` of work: a queue of these drains slowly."""
    time.sleep(seconds)
    return record_tick(label, job, scheduled_tick)
