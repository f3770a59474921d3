"""The strategy page (staff only): chart, figures, trades and runs from one computation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from project.kernel.scheduling import SchedulerError
from strategies.chart import strategy_chart
from strategies.models import Strategy, StrategyRun
from strategies.page_figures import (
    PROFIT_PCT_DEFINITION,
    WIN_RATE_DEFINITION,
    figures,
    places_of,
    trade_rows,
)
from strategies.performance import strategy_performance
from strategies.services import StrategyError, strategy_run_now
from strategies.status import strategy_next_run_at

RUNS_PER_PAGE = 50
TRADES_SHOWN = 100


@staff_member_required
def strategy_page(request: HttpRequest, pk: int) -> HttpResponse:
    strategy = get_object_or_404(
        Strategy.objects.select_related("market__exchange", "owner"), pk=pk
    )
    chart = strategy_chart(strategy=strategy)
    prices = [
        (datetime.fromtimestamp(bar["time"], UTC), Decimal(str(bar["close"])))
        for bar in chart["bars"]
    ]
    performance = strategy_performance(strategy=strategy, prices=prices)
    shown = places_of(strategy.market)
    chart["equity"] = _equity_json(performance.equity_curve)
    chart["last_price"] = _float(performance.last_price)
    next_run_at = strategy_next_run_at(strategy=strategy)
    chart["next_run_at"] = int(next_run_at.timestamp()) if next_run_at else None
    page = _page_number(request)
    runs = _runs_page(strategy=strategy, page=page)
    context = {
        **admin.site.each_context(request),
        "strategy": strategy,
        "performance": performance,
        "figures": figures(performance, shown),
        "trades": trade_rows(performance.trade_list, limit=TRADES_SHOWN, shown=shown),
        "win_rate_definition": WIN_RATE_DEFINITION,
        "profit_pct_definition": PROFIT_PCT_DEFINITION,
        "next_run_at": next_run_at,
        "chart": chart,
        "runs": runs[:RUNS_PER_PAGE],
        "page": page,
        "has_next": len(runs) > RUNS_PER_PAGE,
        "title": f"Strategy {strategy.name}",
        "is_nav_sidebar_enabled": False,  # the table and the chart get the whole width
    }
    return render(request, "strategies/strategy_page.html", context)


@staff_member_required
@require_POST
def strategy_page_run_now(request: HttpRequest, pk: int) -> HttpResponse:
    """The page's Run now button: the same service as the admin action and the API."""
    strategy = get_object_or_404(Strategy, pk=pk)
    try:
        strategy_run_now(strategy=strategy)
    except (StrategyError, ValidationError, SchedulerError) as error:
        text = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, f"Not run: {text}")
    else:
        messages.success(request, "Queued to run now: the run appears below within seconds.")
    return redirect("strategies:page", pk=pk)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return max(int(raw), 1) if raw.isdigit() else 1


def _runs_page(*, strategy: Strategy, page: int) -> list[dict[str, Any]]:
    """One page of runs, newest tick first, and one more to tell whether a next page exists:
    no count of a history that grows by 1,440 runs a day."""
    start = (page - 1) * RUNS_PER_PAGE
    runs = StrategyRun.objects.filter(strategy=strategy).order_by("-scheduled_tick", "-id")
    return [
        {"run": run, "lateness": (run.started_at - run.scheduled_tick).total_seconds()}
        for run in runs[start : start + RUNS_PER_PAGE + 1]
    ]


def _equity_json(curve: list[Any]) -> list[dict[str, Any]]:
    """One point per second, ascending, as the chart library wants (the last value wins)."""
    by_time = {int(point.time.timestamp()): float(point.equity) for point in curve}
    return [{"time": time, "value": value} for time, value in sorted(by_time.items())]
