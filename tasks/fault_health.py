"""Health checks that see what a fault left behind: stuck runs, failing strategies, unconfirmed
orders, lost and missed ticks, and (in the public summary) no live beat."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from project.health import CheckFailed, CheckResult, health_check
from project.locks import LockPurpose, lock_held_sql
from strategies.job import JOB_NAME_PATTERN
from strategies.models import Order, Strategy, StrategyRun
from strategies.recovery import SWEEP_GRACE
from tasks.health import MAX_LISTED
from tasks.models import Firing, FiringStatus, JobSchedule
from tasks.selectors import live_beats

# A live order still `new` after this long has lost its answer; the sweep asks the exchange.
UNCONFIRMED_AFTER = timedelta(seconds=60)
# A fired strategy tick with no run row after this long was lost on its way (the worker's
# database was down, the message was dropped).
LOST_AFTER = timedelta(seconds=60)
# How far back lost and missed ticks are reported: a fault stays visible this long.
TICKS_WINDOW = timedelta(minutes=30)
# A strategy whose last few runs all ended skipped or failed is not trading.
FAILING_RUNS = 3

# Running runs with no lease holder (their process is gone) or past the hard time limit.
STUCK_RUNS_SQL = f"""
SELECT r.id, r.strategy_id, r.scheduled_tick, r.started_at,
       NOT EXISTS (SELECT 1 FROM pg_locks l
                    WHERE {lock_held_sql(LockPurpose.RUN_LEASE, "r.id")}) AS unheld
  FROM {StrategyRun._meta.db_table} r
 WHERE r.status = 'running'
 ORDER BY r.started_at
"""  # noqa: S608

# Per active strategy, its newest runs; the ones whose newest FAILING_RUNS are all bad.
FAILING_SQL = f"""
SELECT strategy_id, array_agg(status || ': ' || left(coalesce(nullif(reason, ''),
       nullif(error_message, ''), ''), 120) ORDER BY scheduled_tick DESC)
  FROM (SELECT r.strategy_id, r.status, r.reason, r.error_message, r.scheduled_tick,
               row_number() OVER (PARTITION BY r.strategy_id ORDER BY r.scheduled_tick DESC) AS n
          FROM {StrategyRun._meta.db_table} r
          JOIN {Strategy._meta.db_table} s ON s.id = r.strategy_id AND s.is_active
         WHERE r.status <> 'running') newest
 WHERE n <= %s
 GROUP BY strategy_id
HAVING count(*) = %s AND bool_and(status IN ('skipped', 'failed'))
 ORDER BY strategy_id
"""  # noqa: S608

# Strategy firings published a while ago with no run for their (strategy, tick).
LOST_TICKS_SQL = f"""
SELECT f.job_name, f.scheduled_tick, f.published_at
  FROM {Firing._meta.db_table} f
  JOIN {Strategy._meta.db_table} s
    ON s.id = substring(f.job_name, %s)::bigint
   AND s.is_active
 WHERE f.status = 'published' AND f.published_at BETWEEN %s AND %s
   AND NOT EXISTS (SELECT 1 FROM {StrategyRun._meta.db_table} r
                    WHERE r.strategy_id = s.id AND r.scheduled_tick = f.scheduled_tick)
 ORDER BY f.scheduled_tick
"""  # noqa: S608


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def ticks_lost(*, since: datetime, before: datetime) -> list[dict[str, str | None]]:
    """Strategy ticks published between `since` and `before` that have no run: a task that
    failed before its body (its database down) left only its firing row behind."""
    with connection.cursor() as cursor:
        cursor.execute(LOST_TICKS_SQL, [JOB_NAME_PATTERN, since, before])
        return [
            {"job": job, "scheduled_tick": _iso(tick), "published_at": _iso(published)}
            for job, tick, published in cursor.fetchall()
        ]


def check_stuck_runs() -> CheckResult:
    """Runs in `running` that no process holds (the sweep settles them) or past the hard limit."""
    now = timezone.now()
    limit = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    with connection.cursor() as cursor:
        cursor.execute(STUCK_RUNS_SQL)
        rows = cursor.fetchall()
    stuck = [
        {
            "run": run_id,
            "strategy": strategy_id,
            "scheduled_tick": _iso(tick),
            "started_at": _iso(started),
            "why": "no process holds it" if unheld else "running past the hard time limit",
        }
        for run_id, strategy_id, tick, started, unheld in rows
        # Within the grace, a lost run is its redelivery's to resume (as for the sweep).
        if (unheld and started < now - SWEEP_GRACE) or started < limit
    ]
    if stuck:
        return CheckResult(False, f"{len(stuck)} run(s) stuck in running", data=stuck[:MAX_LISTED])
    return CheckResult(True, f"{len(rows)} run(s) in progress, none stuck", data=[])


def check_failing_strategies() -> CheckResult:
    """Active strategies whose last FAILING_RUNS runs were all skipped or failed."""
    with connection.cursor() as cursor:
        cursor.execute(FAILING_SQL, [FAILING_RUNS, FAILING_RUNS])
        rows = cursor.fetchall()
    failing = [{"strategy": strategy_id, "last_runs": runs} for strategy_id, runs in rows]
    if failing:
        ids = ", ".join(str(item["strategy"]) for item in failing[:10])
        detail = f"{len(failing)} strategy(ies) whose last {FAILING_RUNS} runs did not succeed"
        return CheckResult(False, f"{detail}: {ids}", data=failing[:MAX_LISTED])
    return CheckResult(True, "every active strategy's recent runs include a success", data=[])


def check_unconfirmed_orders() -> CheckResult:
    """Live orders still `new` (unconfirmed by the exchange) after UNCONFIRMED_AFTER."""
    orders = Order.objects.filter(
        mode=Strategy.Mode.LIVE,
        status=Order.Status.NEW,
        created_at__lt=timezone.now() - UNCONFIRMED_AFTER,
    ).order_by("created_at")
    listed = [
        {
            "order": order.pk,
            "strategy": order.strategy_id,
            "client_order_id": order.client_order_id,
            "created_at": _iso(order.created_at),
        }
        for order in orders[:MAX_LISTED]
    ]
    if listed:
        return CheckResult(False, f"{orders.count()} live order(s) unconfirmed", data=listed)
    return CheckResult(True, "every live order is confirmed by its exchange", data=[])


def check_ticks() -> CheckResult:
    """Ticks lost (fired, never run) or missed (coalesced or skipped by the misfire policy)
    within TICKS_WINDOW."""
    now = timezone.now()
    lost = ticks_lost(since=now - TICKS_WINDOW, before=now - LOST_AFTER)
    firings = Firing.objects.filter(
        Q(missed_ticks__gt=0) | Q(status=FiringStatus.SKIPPED),
        scheduled_tick__gte=now - TICKS_WINDOW,
    ).order_by("scheduled_tick")
    missed = [
        {
            "job": firing.job_name,
            "scheduled_tick": _iso(firing.scheduled_tick),
            "status": firing.status,
            "trigger": firing.trigger,
            "missed_ticks": firing.missed_ticks,
            "reason": firing.reason,
        }
        for firing in firings[:MAX_LISTED]
    ]
    count = sum(item["missed_ticks"] or 1 for item in missed)
    data = {"lost": lost[:MAX_LISTED], "missed": missed}
    if lost or missed:
        detail = f"in the last {TICKS_WINDOW}: {len(lost)} tick(s) fired but never run, "
        return CheckResult(False, detail + f"{count} missed", data=data)
    return CheckResult(True, f"no tick lost or missed in the last {TICKS_WINDOW}", data=data)


@health_check()
def check_beat_alive() -> str:
    """Under the celery backend, with jobs to fire, a beat must have ticked within
    BEAT_LIVE_SECONDS: the summary says so, not only the detail."""
    if settings.SCHEDULER_BACKEND_NAME != "celery":
        return f"not used: the {settings.SCHEDULER_BACKEND_NAME} backend fires jobs"
    if not JobSchedule.objects.filter(Q(next_fire_at__isnull=False) | Q(stale=True)).exists():
        return "no job to fire"
    firing = [beat for beat in live_beats() if beat.firing]
    if not firing:
        raise CheckFailed(
            f"no live beat: none ticked within {settings.BEAT_LIVE_SECONDS}s; no job fires"
        )
    return f"{len(firing)} live beat(s)"
