"""The start-up reconcile of strategy jobs, as a handful of set-based SQL statements.

Named in SCHEDULER_STARTUP_HOOKS. On django-celery-beat's tables it brings every strategy's
job in line in one transaction whatever the number of strategies (no row-by-row Python);
on another job store it falls back to `strategy_schedules_sync`.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django_celery_beat.models import PeriodicTasks

from marketdata.models import TIMEFRAME_DURATIONS
from project.scheduling import Scheduler
from strategies.models import Strategy
from strategies.selectors import job_description
from strategies.services import EXECUTE_TASK, ScheduleSync, strategy_schedules_sync

logger = logging.getLogger(__name__)

# `{descriptions}`: the active strategies' job descriptions, from `job_description()`.
DESIRED = r"""
CREATE TEMP TABLE strategy_jobs_desired ON COMMIT DROP AS
SELECT 'strategy_' || s.id AS name, '[' || s.id || ']' AS args, descr.description,
       CASE WHEN s.crontab = '' THEN COALESCE(NULLIF(s.interval_seconds, 0), tf.seconds) END
           AS every,
       CASE WHEN s.crontab <> '' THEN regexp_split_to_array(btrim(s.crontab), '\s+') END AS cron,
       s.crontab_timezone AS zone, NULL::integer AS interval_id, NULL::integer AS crontab_id
  FROM strategies_strategy AS s
  JOIN ({descriptions}) AS descr ON descr.id = s.id
  LEFT JOIN unnest(%s::text[], %s::integer[]) AS tf(timeframe, seconds)
    ON tf.timeframe = s.timeframe
 WHERE s.is_active
"""

SCHEDULE_ROWS = """
INSERT INTO django_celery_beat_intervalschedule (every, period)
SELECT DISTINCT d.every, 'seconds' FROM strategy_jobs_desired AS d
 WHERE d.every IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM django_celery_beat_intervalschedule AS i
        WHERE i.every = d.every AND i.period = 'seconds');
INSERT INTO django_celery_beat_crontabschedule
       (minute, hour, day_of_month, month_of_year, day_of_week, timezone)
SELECT DISTINCT d.cron[1], d.cron[2], d.cron[3], d.cron[4], d.cron[5], d.zone
  FROM strategy_jobs_desired AS d
 WHERE array_length(d.cron, 1) = 5 AND NOT EXISTS (
       SELECT 1 FROM django_celery_beat_crontabschedule AS c
        WHERE (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week, c.timezone)
            = (d.cron[1], d.cron[2], d.cron[3], d.cron[4], d.cron[5], d.zone));
UPDATE strategy_jobs_desired AS d
   SET interval_id = (SELECT min(i.id) FROM django_celery_beat_intervalschedule AS i
                       WHERE d.every IS NOT NULL AND i.every = d.every AND i.period = 'seconds'),
       crontab_id = (SELECT min(c.id) FROM django_celery_beat_crontabschedule AS c
                      WHERE array_length(d.cron, 1) = 5
                        AND (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week,
                             c.timezone)
                          = (d.cron[1], d.cron[2], d.cron[3], d.cron[4], d.cron[5], d.zone));
"""

UPSERT = """
INSERT INTO django_celery_beat_periodictask AS pt
       (name, task, args, kwargs, headers, one_off, enabled, total_run_count, date_changed,
        description, interval_id, crontab_id)
SELECT d.name, %s, d.args, '{}', '{}', false, true, 0, now(), d.description, d.interval_id,
       d.crontab_id
  FROM strategy_jobs_desired AS d
 WHERE d.interval_id IS NOT NULL OR d.crontab_id IS NOT NULL
    ON CONFLICT (name) DO UPDATE
   SET task = EXCLUDED.task, args = EXCLUDED.args, kwargs = '{}', enabled = true,
       interval_id = EXCLUDED.interval_id, crontab_id = EXCLUDED.crontab_id, solar_id = NULL,
       clocked_id = NULL, start_time = NULL, description = EXCLUDED.description,
       date_changed = now()
 WHERE (pt.task, pt.args, pt.kwargs, pt.enabled, pt.interval_id, pt.crontab_id, pt.solar_id,
        pt.clocked_id, pt.start_time, pt.description)
       IS DISTINCT FROM (EXCLUDED.task, EXCLUDED.args, '{}', true, EXCLUDED.interval_id,
                         EXCLUDED.crontab_id, NULL::integer, NULL::integer, NULL::timestamptz,
                         EXCLUDED.description)
RETURNING pt.name, (xmax = 0) AS created
"""

ORPHANS = r"""
DELETE FROM django_celery_beat_periodictask AS pt
 WHERE pt.name ~ '^strategy_[0-9]+$'
   AND NOT EXISTS (SELECT 1 FROM strategy_jobs_desired AS d WHERE d.name = pt.name)
RETURNING pt.name
"""

UNREADABLE = """
SELECT name FROM strategy_jobs_desired WHERE interval_id IS NULL AND crontab_id IS NULL
"""


def strategy_jobs_reconcile(*, scheduler: Scheduler) -> ScheduleSync:
    """Exactly one fitting, enabled job per active strategy and none for the others.

    A job whose task, arguments or schedule drifted is rewritten; one of a stopped or deleted
    strategy is removed; a strategy whose crontab cannot be split into five fields is reported
    and its job left as it is. Two beats starting together take turns (an advisory lock).
    """
    if scheduler.job_store != "django_celery_beat":
        return strategy_schedules_sync(scheduler=scheduler)
    result = ScheduleSync()
    timeframes = list(TIMEFRAME_DURATIONS)
    seconds = [int(TIMEFRAME_DURATIONS[name].total_seconds()) for name in timeframes]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('strategy_jobs_reconcile'))")
        descriptions, parameters = _descriptions_sql()
        cursor.execute(
            DESIRED.format(descriptions=descriptions), [*parameters, timeframes, seconds]
        )
        result.active = cursor.rowcount
        cursor.execute(SCHEDULE_ROWS)
        cursor.execute(UPSERT, [EXECUTE_TASK])
        for name, created in cursor.fetchall():
            (result.created if created else result.updated).append(name)
        cursor.execute(ORPHANS)
        result.removed = [name for (name,) in cursor.fetchall()]
        cursor.execute(UNREADABLE)
        result.failed = {name: "its crontab does not have five fields" for (name,) in cursor}
        # ON COMMIT DROP waits for the outermost commit; a caller's transaction may go on.
        cursor.execute("DROP TABLE strategy_jobs_desired")
        if result.changed:
            PeriodicTasks.update_changed()
    logger.info(
        "Reconciled %d active strategies in SQL (created %d, updated %d, removed %d, failed %d)",
        result.active,
        len(result.created),
        len(result.updated),
        len(result.removed),
        len(result.failed),
    )
    return result


def _descriptions_sql() -> tuple[str, tuple[object, ...]]:
    """The active strategies' (id, description) as SQL, compiled from the one rule."""
    active = Strategy.objects.filter(is_active=True).annotate(description=job_description())
    return active.values("id", "description").query.sql_with_params()
