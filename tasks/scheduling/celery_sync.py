"""`jobs_sync` on django-celery-beat's tables: a fixed number of set-based SQL statements."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection, transaction
from django_celery_beat.models import PeriodicTasks

from project.kernel.scheduling import DesiredJobs, JobsSync
from tasks.scheduling.jobsync import snapshot_time, sync_mark, sync_scope

logger = logging.getLogger(__name__)

BACKEND = "celery"

# `{rows}`: the desired rows' query. Analyzed: the planner then joins it by hash at any size.
DESIRED = """
CREATE TEMP TABLE jobs_desired ON COMMIT DROP AS
SELECT d.job_id AS name, d.task, d.args, d.description,
       CASE WHEN d.cron IS NULL THEN d.every END AS every, d.cron::text[] AS cron,
       d.timezone AS zone
  FROM ({rows}) AS d
"""

SCHEDULE_ROWS = """
INSERT INTO django_celery_beat_intervalschedule (every, period)
SELECT DISTINCT d.every, 'seconds' FROM jobs_desired AS d
 WHERE d.every IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM django_celery_beat_intervalschedule AS i
        WHERE i.every = d.every AND i.period = 'seconds');
INSERT INTO django_celery_beat_crontabschedule
       (minute, hour, day_of_month, month_of_year, day_of_week, timezone)
SELECT DISTINCT d.cron[1], d.cron[2], d.cron[3], d.cron[4], d.cron[5], d.zone
  FROM jobs_desired AS d
 WHERE array_length(d.cron, 1) = 5 AND NOT EXISTS (
       SELECT 1 FROM django_celery_beat_crontabschedule AS c
        WHERE (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week, c.timezone)
            = (d.cron[1], d.cron[2], d.cron[3], d.cron[4], d.cron[5], d.zone));
"""

# Only the rows that differ reach ON CONFLICT (one hash join against the jobs as they are);
# its WHERE still guards against a concurrent writer.
UPSERT = """
INSERT INTO django_celery_beat_periodictask AS pt
       (name, task, args, kwargs, headers, one_off, enabled, total_run_count, date_changed,
        description, interval_id, crontab_id)
SELECT d.name, d.task, d.args, '{}', '{}', false, true, 0, now(), d.description, i.id, c.id
  FROM jobs_desired AS d
  LEFT JOIN (SELECT every, min(id) AS id FROM django_celery_beat_intervalschedule
              WHERE period = 'seconds' GROUP BY every) AS i ON i.every = d.every
  LEFT JOIN (SELECT minute, hour, day_of_month, month_of_year, day_of_week, timezone,
                    min(id) AS id
               FROM django_celery_beat_crontabschedule
              GROUP BY minute, hour, day_of_month, month_of_year, day_of_week, timezone) AS c
         ON array_length(d.cron, 1) = 5
        AND (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week, c.timezone)
          = (d.cron[1], d.cron[2], d.cron[3], d.cron[4], d.cron[5], d.zone)
  LEFT JOIN django_celery_beat_periodictask AS cur ON cur.name = d.name
 WHERE (i.id IS NOT NULL OR c.id IS NOT NULL)
   AND (cur.id IS NULL
        OR (cur.task, cur.args, cur.kwargs, cur.enabled, cur.interval_id, cur.crontab_id,
            cur.solar_id, cur.clocked_id, cur.start_time, cur.description, cur.one_off)
           IS DISTINCT FROM (d.task, d.args, '{}', true, i.id, c.id, NULL::integer,
                             NULL::integer, NULL::timestamptz, d.description, false))
    ON CONFLICT (name) DO UPDATE
   SET task = EXCLUDED.task, args = EXCLUDED.args, kwargs = '{}', enabled = true,
       interval_id = EXCLUDED.interval_id, crontab_id = EXCLUDED.crontab_id, solar_id = NULL,
       clocked_id = NULL, start_time = NULL, description = EXCLUDED.description,
       one_off = false, date_changed = now()
 WHERE (pt.task, pt.args, pt.kwargs, pt.enabled, pt.interval_id, pt.crontab_id, pt.solar_id,
        pt.clocked_id, pt.start_time, pt.description, pt.one_off)
       IS DISTINCT FROM (EXCLUDED.task, EXCLUDED.args, '{}', true, EXCLUDED.interval_id,
                         EXCLUDED.crontab_id, NULL::integer, NULL::integer, NULL::timestamptz,
                         EXCLUDED.description, false)
RETURNING pt.name, (xmax = 0) AS created
"""

# `{covered}`: the ids this sync covers (a query), joined; `{whole}`: none, every id.
ORPHANS = """
DELETE FROM django_celery_beat_periodictask AS pt{covered}
 WHERE starts_with(pt.name, %s){joined}
   AND NOT EXISTS (SELECT 1 FROM jobs_desired AS d WHERE d.name = pt.name)
RETURNING pt.name
"""

UNREADABLE = """
SELECT name FROM jobs_desired WHERE every IS NULL AND coalesce(array_length(cron, 1), 0) <> 5
"""


def celery_jobs_sync(desired: DesiredJobs, *, full: bool) -> JobsSync:
    """Bring django-celery-beat's rows under the prefix in line with `desired`, in SQL.

    One transaction; two syncs starting together take turns (an advisory lock). A row whose
    crontab does not split into five fields is reported and its job left as it is.
    """
    scope, whole = sync_scope(backend=BACKEND, desired=desired, full=full)
    result = JobsSync(full=whole)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('jobs_sync'), hashtext(%s))",
                       [desired.prefix])  # fmt: skip
        started = snapshot_time()
        result.desired = _desired_table(cursor, scope)
        cursor.execute(SCHEDULE_ROWS)
        cursor.execute(UPSERT)
        for name, created in cursor.fetchall():
            (result.created if created else result.updated).append(name)
        result.removed = _orphans_removed(cursor, scope)
        cursor.execute(UNREADABLE)
        result.failed = {name: "its crontab does not have five fields" for (name,) in cursor}
        # ON COMMIT DROP waits for the outermost commit; a caller's transaction may go on.
        cursor.execute("DROP TABLE jobs_desired")
        if result.changed:
            PeriodicTasks.update_changed()
        sync_mark(backend=BACKEND, prefix=desired.prefix, at=started)
    return result


def _desired_table(cursor: Any, scope: DesiredJobs) -> int:
    """The desired rows in a temporary table, analyzed; how many there are."""
    rows, params = scope.rows.query.sql_with_params()
    cursor.execute(DESIRED.format(rows=rows), params)
    count = cursor.rowcount
    cursor.execute("ANALYZE jobs_desired")
    return count


def _orphans_removed(cursor: Any, scope: DesiredJobs) -> list[str]:
    """Jobs under the prefix (and among the covered ids) that are not desired."""
    if scope.covered is None:
        cursor.execute(ORPHANS.format(covered="", joined=""), [scope.prefix])
    else:
        ids, params = scope.covered.query.sql_with_params()
        sql = ORPHANS.format(covered=f" USING ({ids}) AS c", joined=" AND pt.name = c.job")
        cursor.execute(sql, [*params, scope.prefix])
    return [name for (name,) in cursor.fetchall()]
