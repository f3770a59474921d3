"""Health that remembers ticks: lost ones (published, never started: the broker forgot them or
no worker took them) and missed ones (coalesced or skipped by the misfire policy), of every job
(strategies stopped since, and system jobs, too) over HEALTH_TICKS_WINDOW_SECONDS.

It reads the firing rows, which outlive the strategies they fired (retention keeps them
RETENTION_FIRING_DAYS), so a fault stays visible after whoever it hit is gone. The public summary
counts them (degraded while any is in the window); the detail lists them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from tasks.health.runner import CheckResult, iso
from tasks.models import Firing

MAX_LISTED = 100

# Lost: still unstarted past the redelivery deadline (being published again now), or recorded
# missed after it was published (it never started within its grace).
LOST = """
(f.status = 'published' AND f.task_started_at IS NULL AND f.published_at < %(unstarted_before)s)
 OR (f.status = 'skipped' AND f.republished > 0)
"""
# Missed by the misfire policy: skipped, or standing in for earlier ticks (not the lost ones).
MISSED = """
(f.missed_ticks > 0 OR f.status = 'skipped') AND NOT (f.status = 'skipped' AND f.republished > 0)
"""

# Two indexed reads: the unended firings (firing_unended) and the missed ones (firing_missed).
COUNT_SQL = """
SELECT (SELECT count(*) FROM tasks_firing AS f
         WHERE f.status = 'published' AND f.task_ended_at IS NULL
           AND f.task_started_at IS NULL AND f.published_at < %(unstarted_before)s
           AND f.scheduled_tick >= %(since)s),
       m.lost, m.missed
  FROM (SELECT count(*) FILTER (WHERE f.status = 'skipped' AND f.republished > 0) AS lost,
               coalesce(sum(greatest(f.missed_ticks, 1))
                        FILTER (WHERE NOT (f.status = 'skipped' AND f.republished > 0)), 0)
                 AS missed
          FROM tasks_firing AS f
         WHERE (f.status = 'skipped' OR f.missed_ticks > 0) AND f.scheduled_tick >= %(since)s
       ) AS m
"""


def _window(now: datetime) -> dict[str, datetime]:
    return {
        "since": now - timedelta(seconds=settings.HEALTH_TICKS_WINDOW_SECONDS),
        "unstarted_before": now - timedelta(seconds=settings.BEAT_REDELIVER_AFTER_SECONDS),
    }


def check_ticks_recent() -> CheckResult:
    """Public: degraded while a tick of any job was lost or missed within the window."""
    with connection.cursor() as cursor:
        cursor.execute(COUNT_SQL, _window(timezone.now()))
        unstarted, lost_missed, missed = cursor.fetchone()
    window = timedelta(seconds=settings.HEALTH_TICKS_WINDOW_SECONDS)
    lost = unstarted + lost_missed
    data = {"lost": lost, "unstarted": unstarted, "missed": int(missed)}
    if lost or missed:
        detail = f"in the last {window}: {lost} tick(s) lost ({unstarted} being published "
        detail += f"again), {missed} missed; /health/detail/ lists them"
        return CheckResult(False, detail, data=data)
    return CheckResult(True, f"no tick lost or missed in the last {window}", data=data)


def _described(firing: Firing) -> dict[str, Any]:
    return {
        "job": firing.job_name,
        "scheduled_tick": iso(firing.scheduled_tick),
        "status": firing.status,
        "trigger": firing.trigger,
        "published_at": iso(firing.published_at),
        "republished": firing.republished,
        "missed_ticks": firing.missed_ticks,
        "reason": firing.reason,
    }


def ticks_lost(*, since: datetime, before: datetime | None = None) -> list[dict[str, Any]]:
    """Ticks of every job from `since` that were lost: published and never started."""
    window = {**_window(before or timezone.now()), "since": since}
    firings = Firing.objects.raw(
        f"SELECT * FROM tasks_firing AS f WHERE f.scheduled_tick >= %(since)s AND ({LOST})"  # noqa: S608
        f" ORDER BY f.scheduled_tick LIMIT {MAX_LISTED}",
        window,
    )
    return [_described(firing) for firing in firings]


def ticks_missed(*, since: datetime) -> list[dict[str, Any]]:
    """Ticks of every job from `since` missed by the misfire policy (the beat did not fire
    them in time: coalesced into a stand-in, or skipped)."""
    firings = Firing.objects.raw(
        f"SELECT * FROM tasks_firing AS f WHERE f.scheduled_tick >= %(since)s AND {MISSED}"  # noqa: S608
        f" ORDER BY f.scheduled_tick LIMIT {MAX_LISTED}",
        {"since": since},
    )
    return [_described(firing) for firing in firings]


def check_ticks() -> CheckResult:
    """Detail: the lost and the missed ticks of the window, job by job."""
    now = timezone.now()
    since = _window(now)["since"]
    lost, missed = ticks_lost(since=since, before=now), ticks_missed(since=since)
    count = sum(item["missed_ticks"] or 1 for item in missed)
    data = {"lost": lost, "missed": missed}
    window = timedelta(seconds=settings.HEALTH_TICKS_WINDOW_SECONDS)
    if lost or missed:
        detail = f"in the last {window}: {len(lost)} tick(s) fired but never run, "
        return CheckResult(False, detail + f"{count} missed", data=data)
    return CheckResult(True, f"no tick lost or missed in the last {window}", data=data)
