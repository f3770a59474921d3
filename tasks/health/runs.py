"""Health of the strategies' runs: overdue strategies, runs stuck in running, strategies
that only skip or fail, live orders the exchange never confirmed."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from project.kernel.locks import LockPurpose, lock_held_exists_sql
from project.kernel.scheduling import SchedulerError
from strategies.models import Order, Strategy, StrategyRun
from strategies.recovery import SWEEP_GRACE
from tasks.health.runner import CheckResult, iso

OVERDUE_INTERVALS = 2
MAX_LISTED = 100
# A live order still `new` after this long has lost its answer; the sweep asks the exchange.
UNCONFIRMED_AFTER = timedelta(seconds=60)
# A strategy whose last few runs all ended skipped or failed is not trading.
FAILING_RUNS = 3

# Running runs with no lease holder (their process is gone) or past the hard time limit.
STUCK_RUNS_SQL = f"""
SELECT r.id, r.strategy_id, r.scheduled_tick, r.started_at,
       NOT {lock_held_exists_sql(LockPurpose.RUN_LEASE, "r.id")} AS unheld
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


def check_strategies() -> CheckResult:
    """Active strategies whose next run is overdue by more than two of their intervals.

    A strategy's next run is due at the first tick after its last run's tick (after its last
    change if it never ran); the interval is the gap between that tick and the one after it,
    so crontab schedules are measured by their own rhythm.
    """
    now = timezone.now()
    overdue = []
    active = Strategy.objects.filter(is_active=True).annotate(last_tick=Max("runs__scheduled_tick"))
    for strategy in active.select_related("owner").order_by("pk"):
        reference = strategy.last_tick or strategy.updated_at
        try:
            trigger = strategy.trigger
            due = trigger.next_tick(reference)
            interval = trigger.next_tick(due) - due
        except SchedulerError as error:
            overdue.append({"id": strategy.pk, "name": strategy.name, "error": str(error)})
            continue
        if now - due > interval * OVERDUE_INTERVALS:
            overdue.append(
                {
                    "id": strategy.pk,
                    "name": strategy.name,
                    "owner": strategy.owner.get_username(),
                    "last_run_tick": iso(strategy.last_tick),
                    "due_at": iso(due),
                    "overdue_seconds": round((now - due).total_seconds()),
                }
            )
    if overdue:
        names = ", ".join(str(item["name"]) for item in overdue[:10])
        return CheckResult(False, f"{len(overdue)} overdue: {names}", data=overdue[:MAX_LISTED])
    return CheckResult(True, "no active strategy is overdue", data=[])


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
            "scheduled_tick": iso(tick),
            "started_at": iso(started),
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
            "created_at": iso(order.created_at),
        }
        for order in orders[:MAX_LISTED]
    ]
    if listed:
        return CheckResult(False, f"{orders.count()} live order(s) unconfirmed", data=listed)
    return CheckResult(True, "every live order is confirmed by its exchange", data=[])
