"""The front door (`/`, the admin's "View site"): every strategy at a glance, staff only.

A page of strategies costs the same few queries whatever its size or the number of strategies:
one count, one page, the page's figures (`strategies_performance`), its last runs, the totals.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from strategies.models import Strategy, StrategyRun
from strategies.page_figures import base, money, places_of
from strategies.performance import strategies_performance
from strategies.status import Health, strategies_last_runs, strategy_health

PER_PAGE = 100
FILTERS = {
    "active": Q(is_active=True),
    "stopped": Q(is_active=False, paused_reason=""),
    "paused": Q(is_active=False) & ~Q(paused_reason=""),
}


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    shown = request.GET.get("show", "")
    strategies = Strategy.objects.select_related("market__exchange").order_by("name", "id")
    if shown in FILTERS:
        strategies = strategies.filter(FILTERS[shown])
    page = Paginator(strategies, PER_PAGE).get_page(request.GET.get("page"))
    context = {
        **admin.site.each_context(request),
        "title": "Strategies at a glance",
        "is_nav_sidebar_enabled": False,  # the table and the chart get the whole width
        "rows": dashboard_rows(list(page.object_list)),
        "page": page,
        "shown": shown,
        "totals": strategy_totals(),
        "recent": recent_run_problems(),
        "health_order": Health.ORDER,
    }
    return render(request, "strategies/dashboard.html", context)


def dashboard_rows(strategies: list[Strategy]) -> list[dict[str, Any]]:
    """Status, position, P&L, last run with its lateness, health: five queries for the page."""
    figures = strategies_performance(strategies=strategies)
    last_runs = strategies_last_runs(strategy_ids=[s.pk for s in strategies])
    now = timezone.now()
    grace = timedelta(seconds=settings.SCHEDULER_MISFIRE_GRACE_SECONDS)
    rows = []
    for strategy in strategies:
        run = last_runs.get(strategy.pk)
        performance, shown = figures[strategy.pk], places_of(strategy.market)
        rows.append(
            {
                "strategy": strategy,
                "health": strategy_health(strategy=strategy, last_run=run, now=now, grace=grace),
                "position": base(performance.base_amount, shown.base),
                "pnl": money(performance.total_pnl, shown.money),
                "pnl_class": _sign(performance.total_pnl),
                "last_run": run,
                "lateness": None if run is None else (run.started_at - run.scheduled_tick),
            }
        )
    return rows


def strategy_totals() -> dict[str, int]:
    """How many strategies are active, stopped and paused by the system: one query."""
    return Strategy.objects.aggregate(
        total=Count("id"),
        **{name: Count("id", filter=condition) for name, condition in FILTERS.items()},
    )


def recent_run_problems(hours: int = 1) -> dict[str, int]:
    """Failed and skipped runs of the last hour over all strategies, by the status index."""
    since = timezone.now() - timedelta(hours=hours)
    runs: QuerySet[StrategyRun] = StrategyRun.objects.filter(
        status__in=[StrategyRun.Status.FAILED, StrategyRun.Status.SKIPPED], started_at__gte=since
    )
    counts = dict(runs.values_list("status").annotate(n=Count("id")).order_by())
    return {"failed": counts.get("failed", 0), "skipped": counts.get("skipped", 0)}


def _sign(value: Any) -> str:
    return "" if not value else ("gain" if value > 0 else "loss")
