"""Detailed health for staff: workers, beat, exchanges, candle freshness, overdue strategies."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from marketdata.models import TIMEFRAME_DURATIONS, Candle, Exchange, Watchlist
from project import health
from project.celery import app
from project.health import CheckResult
from project.scheduling import SchedulerError
from strategies.models import Strategy
from tasks.heartbeat import beat_heartbeat_read
from tasks.selectors import live_beats

WORKER_PING_TIMEOUT = 1.0
# Candles arrive in batches on the collector's cadence, not the moment a bar opens: allow it.
CANDLE_GRACE = timedelta(minutes=15)
OVERDUE_INTERVALS = 2
MAX_LISTED = 100


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def check_workers() -> CheckResult:
    """Celery control ping: every worker consuming from the broker answers within the timeout."""
    with app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
        replies = app.control.ping(timeout=WORKER_PING_TIMEOUT, connection=connection)
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        return CheckResult(
            False, f"no worker answered a ping within {WORKER_PING_TIMEOUT}s", data=[]
        )
    return CheckResult(True, f"{len(workers)} worker(s) answered", data=workers)


def check_beat() -> CheckResult:
    """The live beats (each stamps its own row every tick); fails when none fires jobs."""
    beats = live_beats()
    data = [
        {
            "id": beat.id,
            "host": beat.host,
            "pid": beat.pid,
            "started_at": _iso(beat.started_at),
            "last_tick_at": _iso(beat.last_tick_at),
            "firing": beat.firing,
        }
        for beat in beats
    ]
    firing = [beat for beat in beats if beat.firing]
    if not firing:
        last = beat_heartbeat_read()
        since = f", last heartbeat {time.time() - last:.0f}s ago" if last else ""
        return CheckResult(False, f"no live beat fires jobs: beat is not running{since}", data=data)
    return CheckResult(True, f"{len(firing)} live beat(s) firing", data=data)


def check_exchanges() -> CheckResult:
    """An exchange fails when its latest contact was an error; one never contacted is listed."""
    rows, failing = [], []
    for exchange in Exchange.objects.filter(enabled=True):
        ok = not exchange.last_error_at or bool(
            exchange.last_success_at and exchange.last_success_at >= exchange.last_error_at
        )
        if not ok:
            failing.append(exchange.name)
        rows.append(
            {
                "name": exchange.name,
                "ok": ok,
                "last_success_at": _iso(exchange.last_success_at),
                "last_error_at": _iso(exchange.last_error_at),
                "last_error": exchange.last_error,
            }
        )
    if failing:
        return CheckResult(False, f"last contact failed: {', '.join(failing)}", data=rows)
    return CheckResult(True, f"{len(rows)} exchange(s)", data=rows)


def check_candles() -> CheckResult:
    """The newest candle of each watched market and timeframe is at most two bars old (+grace)."""
    newest = Candle.objects.filter(
        market=OuterRef("market"), timeframe=OuterRef("timeframe")
    ).order_by("-open_time")
    watched = (
        Watchlist.objects.filter(enabled=True)
        .select_related("market__exchange")
        .annotate(newest=Subquery(newest.values("open_time")[:1]))
        .order_by("market__exchange__name", "market__symbol", "timeframe")
    )
    now = timezone.now()
    rows, stale = [], []
    for item in watched:
        limit = TIMEFRAME_DURATIONS[item.timeframe] * 2 + CANDLE_GRACE
        age = (now - item.newest) if item.newest else None
        ok = age is not None and age <= limit
        name = f"{item.market} {item.timeframe}"
        if not ok:
            stale.append(name)
        rows.append(
            {
                "market": str(item.market),
                "timeframe": item.timeframe,
                "ok": ok,
                "newest_open_time": _iso(item.newest),
                "age_seconds": round(age.total_seconds()) if age is not None else None,
                "limit_seconds": round(limit.total_seconds()),
            }
        )
    if stale:
        return CheckResult(False, f"{len(stale)} stale: {', '.join(stale[:10])}", data=rows)
    return CheckResult(True, f"{len(rows)} watched series fresh", data=rows)


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
                    "last_run_tick": _iso(strategy.last_tick),
                    "due_at": _iso(due),
                    "overdue_seconds": round((now - due).total_seconds()),
                }
            )
    if overdue:
        names = ", ".join(str(item["name"]) for item in overdue[:10])
        return CheckResult(False, f"{len(overdue)} overdue: {names}", data=overdue[:MAX_LISTED])
    return CheckResult(True, "no active strategy is overdue", data=[])


def health_detail_report() -> dict[str, Any]:
    """The public summary plus every detail check; logs a warning for each failing check.

    A failing detail check degrades the status; only the summary's critical checks take it down.
    """
    summary = health.report()
    _, details = health.run_checks(settings.HEALTH_DETAIL_CHECKS)
    health.results_logged(details)
    status = summary["status"]
    if status == "ok" and not all(result.ok for result in details.values()):
        status = "degraded"
    return {
        "status": status,
        "checked_at": timezone.now().isoformat(),
        "checks": summary["checks"],
        "detail": {name: asdict(result) for name, result in details.items()},
    }
