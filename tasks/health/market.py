"""Health of the market data: exchanges that answer, and watched candle series kept fresh."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from marketdata.models import TIMEFRAME_DURATIONS, Candle, Exchange, Watchlist
from tasks.health.runner import CheckResult, iso

# Candles arrive in batches on the collector's cadence, not the moment a bar opens: allow it.
CANDLE_GRACE = timedelta(minutes=15)


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
                "last_success_at": iso(exchange.last_success_at),
                "last_error_at": iso(exchange.last_error_at),
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
                "newest_open_time": iso(item.newest),
                "age_seconds": round(age.total_seconds()) if age is not None else None,
                "limit_seconds": round(limit.total_seconds()),
            }
        )
    if stale:
        return CheckResult(False, f"{len(stale)} stale: {', '.join(stale[:10])}", data=rows)
    return CheckResult(True, f"{len(rows)} watched series fresh", data=rows)
