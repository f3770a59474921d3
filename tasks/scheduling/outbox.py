"""The outbox: firing rows committed but not published go to the broker, in batches.

A beat publishes its own firings right after the commit; any beat adopts pending firings
older than BEAT_OUTBOX_ADOPT_SECONDS (their beat died between commit and publish). Rows are
locked while published (`SKIP LOCKED`), so two beats never publish the same firing; a crash
after the publish and before the commit may publish it again, with the same task id, which
the tasks' (job, tick) keys make harmless.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu import Producer

PUBLISH_BATCH = 200

SELECT_PENDING = """
SELECT id, celery_task_id, task, args, kwargs, queue
  FROM tasks_firing
 WHERE status = 'pending' AND (id = ANY(%s) OR created_at < %s)
 ORDER BY created_at
 LIMIT %s
   FOR UPDATE SKIP LOCKED
"""

MARK_PUBLISHED = """
UPDATE tasks_firing AS f SET status = 'published', published_at = v.at
  FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at)
 WHERE f.id = v.id
"""


def firings_publish(*, app: Celery, producer: Producer, own: list[int], limit: int = 5000) -> int:
    """Publish the given pending firings and any orphaned ones; returns how many were sent."""
    adopt_before = timezone.now() - timedelta(seconds=settings.BEAT_OUTBOX_ADOPT_SECONDS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(SELECT_PENDING, [own, adopt_before, limit])
            rows = cursor.fetchall()
        if not rows:
            return 0
        ids, stamps = [], []
        for start in range(0, len(rows), PUBLISH_BATCH):
            batch = rows[start : start + PUBLISH_BATCH]
            _publish_batch(app, producer, batch)
            at = datetime.fromtimestamp(time.time(), UTC)
            ids += [row[0] for row in batch]
            stamps += [at] * len(batch)
        with connection.cursor() as cursor:
            cursor.execute(MARK_PUBLISHED, [ids, stamps])
    return len(rows)


def _publish_batch(app: Celery, producer: Producer, rows: list[tuple[Any, ...]]) -> None:
    """One pipeline to the broker for the whole batch (kombu's `Producer.batch`)."""
    with producer.batch(max_size=len(rows)):
        for _, task_id, task, args, kwargs, queue in rows:
            options = {"queue": queue} if queue else {}
            app.send_task(
                task,
                args=_decoded(args),
                kwargs=_decoded(kwargs),
                task_id=task_id,
                producer=producer,
                headers={"celery_beat_task": True},
                **options,
            )


def _decoded(value: Any) -> Any:
    """Django's psycopg set-up hands raw SQL jsonb back as text."""
    return json.loads(value) if isinstance(value, str) else value
