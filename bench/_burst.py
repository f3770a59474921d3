"""What bench/beat.py reads from the real broker: when each message arrived, and which they are."""

from __future__ import annotations

import base64
import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

QUEUE = "celery"  # the default queue every job is published to here
POLL = 0.002  # seconds between two looks at the queue's length
LOOK_AHEAD = 0.25  # seconds before the tick that looking starts


def broker() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def arrivals(
    client: Any, expected: int, tick: float, until: float, settle: float = 2.0
) -> list[float]:
    """The wall-clock time each message reached the queue, from its length polled every 2 ms.

    Nothing consumes the queue, so its length only grows: the k-th message arrived by the
    first look that saw at least k. This reads the broker alone, so it times any publisher
    alike. Looking starts just before the tick (so the polling does not take the beat's CPU
    while it waits; a message sent early still shows, as arrived at the first look) and goes
    on for `settle` seconds after `expected` messages, to catch extra ones.
    """
    time.sleep(max(0.0, tick - LOOK_AHEAD - time.time()))
    seen: list[float] = []
    stop = until
    while time.time() < stop:
        length = client.llen(QUEUE)
        now = time.time()
        seen.extend([now] * (length - len(seen)))
        if len(seen) >= expected and stop == until:
            stop = min(until, now + settle)
        time.sleep(POLL)
    return seen


@dataclass(frozen=True)
class Delivered:
    """The messages in the queue: how many, and how many name a job and tick seen before."""

    messages: int
    jobs: int
    duplicates: int
    task_ids_unique: bool


def delivered(client: Any) -> Delivered:
    """Read every message in the queue (Celery protocol 2, JSON) and empty it."""
    keys: Counter[tuple[str, str]] = Counter()
    task_ids = set()
    raw = client.lrange(QUEUE, 0, -1)
    for item in raw:
        message = json.loads(item)
        headers = message["headers"]
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        tick = str(kwargs.get("scheduled_tick", ""))
        keys[(f"{headers['task']}{json.dumps(args)}", tick)] += 1
        task_ids.add(headers["id"])
    client.delete(QUEUE)
    jobs = len({job for job, _ in keys})
    return Delivered(
        messages=len(raw),
        jobs=jobs,
        duplicates=len(raw) - jobs,
        task_ids_unique=len(task_ids) == len(raw),
    )


def lateness(arrived: list[float], tick: float) -> dict[str, float]:
    """p50, p95, p99 and max of how late each message arrived after its tick, in ms."""
    late = sorted((moment - tick) * 1000 for moment in arrived)
    if not late:
        return {}
    rank = {"p50": 0.50, "p95": 0.95, "p99": 0.99, "max": 1.0}
    return {name: round(late[max(0, math.ceil(q * len(late)) - 1)], 1) for name, q in rank.items()}
