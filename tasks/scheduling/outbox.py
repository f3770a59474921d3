"""The outbox: firing rows committed but not published go to the broker, in batches.

A beat publishes its own firings once their tick has come (it claims them a moment ahead);
any beat adopts pending firings whose tick is older than BEAT_OUTBOX_ADOPT_SECONDS (their beat
died between commit and publish). Nothing is published before its tick. Rows are
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
# The header celery beat itself puts on what it sends.
BEAT_HEADERS = {"celery_beat_task": True}

SELECT_PENDING = """
SELECT id, celery_task_id, task, args, kwargs, queue
  FROM tasks_firing
 WHERE status = 'pending' AND scheduled_tick <= now() AND (id = ANY(%s) OR scheduled_tick < %s)
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
    """Publish the given pending firings whose tick has come, and any orphaned ones; returns
    how many were sent."""
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
    """One pipeline to the broker for the whole batch (kombu's `Producer.batch`).

    Celery's own message format and routing, without what costs most per message in
    `send_task`: no queue declaration per message (a direct queue needs none) and no
    `task-sent` event (the firing row records the publish; workers still send theirs).
    """
    amqp = app.amqp
    with producer.batch(max_size=len(rows)):
        for _, task_id, task, args, kwargs, queue in rows:
            message = amqp.create_task_message(
                task_id,
                task,
                _decoded(args),
                _decoded(kwargs),
                argsrepr=_text(args),  # as the JSON text: no saferepr walk per message
                kwargsrepr=_text(kwargs),
            )
            amqp.send_task_message(
                producer, task, message, queue=queue or None, declare=[], headers=BEAT_HEADERS
            )


def _decoded(value: Any) -> Any:
    """Django's psycopg set-up hands raw SQL jsonb back as text."""
    return json.loads(value) if isinstance(value, str) else value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
