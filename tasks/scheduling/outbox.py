"""The outbox: firing rows committed but not published go to the broker, in batches.

A beat publishes its own firings once their tick has come (it claims them a moment ahead);
any beat adopts pending firings whose tick is older than BEAT_OUTBOX_ADOPT_SECONDS (their beat
died between commit and publish). Nothing is published before its tick. Rows are
locked while published (`SKIP LOCKED`), so two beats never publish the same firing; a crash
after the publish and before the commit may publish it again, with the same task id, which
the tasks' (job, tick) keys make harmless.

A firing the broker did not take within its job's misfire grace (Redis down for longer) is
settled by the misfire rule of ticks no beat fired (`ticks.late_ticks_fate`) before anything
is published: missed with the reason, counted on the firing and its job, except that under
`coalesce` the newest of a job's, if no newer tick stands in, is published once as its
catch-up. An outage never sends a backlog of stale ticks, and loses none silently.

The firing row is the truth and the broker a cache of it: a published firing whose task has
not started (`task_started_at`, stamped by the worker's edge, `tasks.edge`) within
BEAT_REDELIVER_AFTER_SECONDS of its publish (a broker restarted empty, a failover), or started
and lost its process (its lease is free) with its message, goes back to `pending`
(`firings_requeue_unstarted`) and is published again with the same task id, until it ends or,
never started, its grace passes: then the rule above records it missed, with the reason. The
deadline doubles after the first time only: a firing waits at most twice it after a worker is
back, and a worker away for a whole grace finds at most grace / deadline copies of each, which
its edge refuses (`starts`): a copy whose twin did arrive makes no second run. A firing queued
behind messages that live workers are taking (a large tick draining) is late, not lost: its
deadline runs from when its queue was next seen empty (`backlog`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

from celery import Celery
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu import Producer

from project.kernel.locks import (
    LockPurpose,
    lock_held_exists_sql,
    lock_key,
    lock_try_for_transaction,
)
from tasks.models import MisfirePolicy
from tasks.scheduling.backlog import LIVELY, Held
from tasks.scheduling.grouping import Outgoing, outgoing_messages
from tasks.scheduling.messages import firing_kwargs
from tasks.scheduling.ticks import CATCH_UP, late_ticks_fate

logger = logging.getLogger(__name__)

PUBLISH_BATCH = 200
# The header celery beat itself puts on what it sends.
BEAT_HEADERS = {"celery_beat_task": True}

# A pending firing past its job's grace, never less than the adopt delay (a beat's own
# firings at their tick are never late); `js` is its job's schedule row, if it still exists.
LATE = """f.scheduled_tick < now() - make_interval(
           secs => greatest(coalesce(js.misfire_grace_seconds, %(grace)s), %(adopt)s))"""

# Late firings wait for `firings_settle_late`, except a catch-up (late by design) and one that
# started (its process was lost: the copy resumes it).
SELECT_PENDING = f"""
SELECT f.id, f.celery_task_id, f.task, f.args, f.kwargs, f.queue
  FROM tasks_firing AS f
  LEFT JOIN tasks_jobschedule AS js ON js.periodic_task_id = f.periodic_task_id
 WHERE f.status = 'pending' AND f.scheduled_tick <= now()
   AND (f.id = ANY(%(own)s) OR f.scheduled_tick < %(adopt_before)s)
   AND (f.trigger = '{CATCH_UP}' OR f.task_started_at IS NOT NULL OR NOT {LATE})
 ORDER BY f.created_at
 LIMIT %(limit)s
   FOR UPDATE OF f SKIP LOCKED
"""  # noqa: S608 - constants only

MARK_PUBLISHED = """
UPDATE tasks_firing AS f SET status = 'published', published_at = v.at
  FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at)
 WHERE f.id = v.id
"""


def _grace_parameters() -> dict[str, Any]:
    return {
        "grace": settings.SCHEDULER_MISFIRE_GRACE_SECONDS,
        "adopt": settings.BEAT_OUTBOX_ADOPT_SECONDS,
    }


def firings_publish(*, app: Celery, producer: Producer, own: list[int], limit: int = 5000) -> int:
    """Publish the given pending firings whose tick has come, and any orphaned ones within
    their grace; returns how many were sent."""
    adopt = settings.BEAT_OUTBOX_ADOPT_SECONDS
    parameters = {
        **_grace_parameters(),
        "own": own,
        "adopt_before": timezone.now() - timedelta(seconds=adopt),
        "limit": limit,
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(SELECT_PENDING, parameters)
            rows = cursor.fetchall()
        if not rows:
            return 0
        ids, stamps = [], []
        messages = outgoing_messages(rows)  # strategy firings grouped per series (grouping)
        for start in range(0, len(messages), PUBLISH_BATCH):
            batch = messages[start : start + PUBLISH_BATCH]
            _publish_batch(app, producer, batch)
            at = datetime.fromtimestamp(time.time(), UTC)
            published = [pk for message in batch for pk in message.firing_ids]
            ids += published
            stamps += [at] * len(published)
        with connection.cursor() as cursor:
            cursor.execute(MARK_PUBLISHED, [ids, stamps])
    return len(rows)


def _publish_batch(app: Celery, producer: Producer, messages: list[Outgoing]) -> None:
    """One pipeline to the broker for the whole batch (kombu's `Producer.batch`).

    Celery's own message format and routing, without what costs most per message in
    `send_task`: no queue declaration per message (a direct queue needs none) and no
    `task-sent` event (the firing row records the publish; workers still send theirs).
    """
    amqp = app.amqp
    with producer.batch(max_size=len(messages)):
        for outgoing in messages:
            message = amqp.create_task_message(
                outgoing.task_id,
                outgoing.task,
                outgoing.args,
                outgoing.kwargs,
                argsrepr=_text(outgoing.args),  # as JSON text: no saferepr walk per message
                kwargsrepr=_text(outgoing.kwargs),
                ignore_result=outgoing.ignore_result,
            )
            amqp.send_task_message(
                producer,
                outgoing.task,
                message,
                queue=outgoing.queue or None,
                declare=[],
                headers=BEAT_HEADERS,
            )


def _decoded(value: Any) -> Any:
    """Django's psycopg set-up hands raw SQL jsonb back as text."""
    return json.loads(value) if isinstance(value, str) else value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# One beat at a time settles late firings: two would update the same jobs' counters in
# different orders.
SETTLE_LOCK = lock_key(LockPurpose.FIRINGS_SETTLE)

# Pending firings older than their job's grace (never less than the adopt delay, so a beat's
# own firings at their tick are never late), with what the rule needs.
SELECT_LATE = f"""
SELECT f.id, f.job_name, f.periodic_task_id, f.task, f.kwargs, f.scheduled_tick, f.trigger,
       coalesce(js.misfire_policy, %(policy)s), coalesce(js.misfire_grace_seconds, %(grace)s),
       EXISTS (SELECT 1 FROM tasks_firing AS n
                WHERE n.job_name = f.job_name AND n.scheduled_tick > f.scheduled_tick),
       f.republished, f.reason
  FROM tasks_firing AS f
  LEFT JOIN tasks_jobschedule AS js ON js.periodic_task_id = f.periodic_task_id
 WHERE f.status = 'pending' AND f.task_started_at IS NULL AND {LATE}
 ORDER BY f.job_name, f.scheduled_tick
   FOR UPDATE OF f SKIP LOCKED
"""  # noqa: S608 - constants only

MARK_MISSED = """
UPDATE tasks_firing AS f
   SET status = 'skipped', missed_ticks = f.missed_ticks + 1, reason = v.reason
  FROM unnest(%s::bigint[], %s::text[]) AS v(id, reason)
 WHERE f.id = v.id
"""

MARK_CATCH_UP = """
UPDATE tasks_firing AS f SET trigger = %s, kwargs = v.kwargs::jsonb, reason = v.reason
  FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, kwargs, reason)
 WHERE f.id = v.id
"""

COUNT_MISSED = """
UPDATE tasks_jobschedule AS js SET missed_ticks = js.missed_ticks + v.missed
  FROM unnest(%s::int[], %s::bigint[]) AS v(id, missed)
 WHERE js.periodic_task_id = v.id
"""


@dataclass(frozen=True)
class _Late:
    pk: int
    job_name: str
    job_pk: int
    task: str
    kwargs: Any
    tick: datetime
    trigger: str
    policy: str
    grace: int
    stood_in: bool
    republished: int
    reason: str

    def cause(self, default: str) -> str:
        """Why it did not run: a republished firing's own reason, else the beat's."""
        return self.reason if self.republished else default


def firings_settle_late(*, cause: str) -> int:
    """Settle the pending firings past their job's grace by the misfire rule; returns how many
    were recorded missed. `cause` says why they were not published (the broker's error)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if not lock_try_for_transaction(cursor, SETTLE_LOCK):
            return 0  # another beat is settling them
        cursor.execute(SELECT_LATE, {**_grace_parameters(), "policy": MisfirePolicy.COALESCE.value})
        late = [_Late(*row) for row in cursor.fetchall()]
        missed: list[_Late] = []
        catch_ups: list[_Late] = []
        for _, rows in groupby(late, key=lambda row: row.job_name):
            job = list(rows)
            newest = job[-1]
            catch_up, _ = late_ticks_fate(
                late=len(job), stand_in=newest.stood_in, policy=newest.policy
            )
            missed += job[:-1] if catch_up else job
            catch_ups += [newest] if catch_up else []
        _record_late(cursor, missed, catch_ups, cause)
    if missed:
        logger.warning(
            "%d firings missed, not published within their grace: %s", len(missed), cause
        )
    return len(missed)


def _record_late(cursor: Any, missed: list[_Late], catch_ups: list[_Late], cause: str) -> None:
    if missed:
        reasons = [
            f"{row.cause(cause)}; not started within the {row.grace}s misfire grace"[:300]
            for row in missed
        ]
        cursor.execute(MARK_MISSED, [[row.pk for row in missed], reasons])
        per_job: dict[int, int] = {}
        for row in missed:
            per_job[row.job_pk] = per_job.get(row.job_pk, 0) + 1
        cursor.execute(COUNT_MISSED, [list(per_job), list(per_job.values())])
    if catch_ups:
        kwargs = [
            json.dumps(firing_kwargs(row.task, _decoded(row.kwargs), row.tick, CATCH_UP))
            for row in catch_ups
        ]
        reasons = [
            f"{row.cause(cause)}; published after its {row.grace}s grace as the catch-up"[:300]
            for row in catch_ups
        ]
        cursor.execute(MARK_CATCH_UP, [CATCH_UP, [row.pk for row in catch_ups], kwargs, reasons])


# Published and not ended past the deadline (doubled after the first republish), and either
# never started or started by a process that is gone (its lease is free): back to `pending`.
# The outer conditions are checked again on a row a worker's stamp changed meanwhile. The rows
# are chosen once (a materialized CTE) and updated by primary key: as an `IN (subquery)` (or a
# join) the planner, misled by fresh tables' statistics, ran the choice again, or scanned
# every published firing, for each row: seconds at a few thousand.
LEASE_HELD = lock_held_exists_sql(LockPurpose.FIRING_LEASE, "u.id")
# A started firing whose process keeps dying (a task past the hard time limit) is published
# again this many times at most: its run's own recovery (`recover_runs`) takes over.
MAX_RESUMES = 3
# When a firing not started left its queue (`backlog`): the first look after its publish that
# found the queue empty (its publish, if one before it did too); none yet, while the queue
# holds messages and workers are taking them (the looks saw it shrink, or a firing started
# lately): now. Its deadline runs from then, held at most until its job's
# misfire grace less one deadline after its publish.
LEFT_QUEUE = """CASE WHEN u.task_started_at IS NULL AND u.queue = ANY(%(queues)s::text[])
                   AND u.published_at > now() - make_interval(secs => greatest(
                       %(after)s, coalesce(js.misfire_grace_seconds, %(grace)s) - %(after)s))
              THEN coalesce((SELECT min(e.first) FROM unnest(%(empty_from)s::timestamptz[],
                                                             %(empty_until)s::timestamptz[])
                                                   AS e(first, last)
                             WHERE e.last >= u.published_at),
                            CASE WHEN %(busy)s AND (%(holding)s OR EXISTS (
                                SELECT 1 FROM tasks_firing AS s
                                 WHERE s.status = 'published' AND s.task_ended_at IS NULL
                                   AND s.task_started_at > now() - make_interval(
                                       secs => greatest(%(after)s, %(lively)s))))
                                 THEN now() END) END"""
REQUEUE_UNSTARTED = f"""
WITH due AS MATERIALIZED (
    SELECT u.id FROM tasks_firing AS u
      LEFT JOIN tasks_jobschedule AS js ON js.periodic_task_id = u.periodic_task_id
     WHERE u.status = 'published' AND u.task_ended_at IS NULL
       AND u.published_at < now() - make_interval(secs => %(after)s)
       AND greatest(u.published_at, {LEFT_QUEUE}) < now() - make_interval(
               secs => %(after)s * power(2, least(u.republished, 1)))
       AND (u.task_started_at IS NULL
            OR (u.republished < {MAX_RESUMES} AND NOT {LEASE_HELD}))
     ORDER BY u.published_at
     LIMIT %(limit)s
       FOR UPDATE OF u SKIP LOCKED
)
UPDATE tasks_firing AS f
   SET status = 'pending', republished = f.republished + 1,
       reason = 'published ' || (f.republished + 1) || ' time(s), '
                || CASE WHEN f.task_started_at IS NULL THEN 'not started' ELSE 'its worker lost' END
                || ' within ' || %(after)s * power(2, least(f.republished, 1)) || 's'
                || ': the broker lost it or no worker took it'
 WHERE f.id = ANY(ARRAY(SELECT id FROM due))
   AND f.status = 'published' AND f.task_ended_at IS NULL
"""  # noqa: S608 - constants only


def firings_requeue_unstarted(*, limit: int = 5000, held: Held | None = None) -> int:
    """Put published firings whose task has not started within the deadline, or lost its
    process, back in the outbox, to be published again with their task id (or settled late);
    returns how many. `held`: what the beat saw of its queue (`backlog`); a firing not started
    that may still wait in it is held back."""
    after = settings.BEAT_REDELIVER_AFTER_SECONDS
    held = held or Held()
    parameters = {"after": after, "limit": limit, "grace": _grace_parameters()["grace"]}
    parameters |= {"queues": list(held.queues), "busy": held.busy, "holding": held.holding}
    parameters |= {"lively": LIVELY.total_seconds()}
    parameters |= {"empty_from": list(held.empty_from), "empty_until": list(held.empty_until)}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(REQUEUE_UNSTARTED, parameters)
        requeued = cursor.rowcount
    if requeued:
        logger.warning("%d published firings not started in %ss: published again", requeued, after)
    return requeued
