"""The strategy page (staff only): chart, performance figures and the run history in pages."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from project.display import plain
from strategies.chart import strategy_chart
from strategies.models import Strategy, StrategyRun
from strategies.performance import strategy_performance
from strategies.status import strategy_next_run_at

RUNS_PER_PAGE = 50


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
    chart["equity"] = _equity_json(performance.equity_curve)
    page = _page_number(request)
    runs = _runs_page(strategy=strategy, page=page)
    context = {
        **admin.site.each_context(request),
        "strategy": strategy,
        "performance": performance,
        "figures": _figures(performance),
        "next_run_at": strategy_next_run_at(strategy=strategy),
        "chart": chart,
        "runs": runs[:RUNS_PER_PAGE],
        "page": page,
        "has_next": len(runs) > RUNS_PER_PAGE,
        "title": f"Strategy {strategy.name}",
    }
    return render(request, "strategies/strategy_page.html", context)


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


def _figures(performance: Any) -> list[tuple[str, str]]:
    """The figures as (label, text): quote amounts to the cent, base amounts to 8 places."""

    def money(value: Decimal | None) -> str:
        return "-" if value is None else f"{value:,.2f}"

    def base(value: Decimal | None) -> str:
        return "-" if value is None else plain(value.quantize(Decimal("0.00000001"))) or "0"

    rate = performance.win_rate
    return [
        ("Position", base(performance.base_amount)),
        ("Average entry", money(performance.average_entry_price)),
        ("Quote balance", money(performance.quote_balance)),
        ("Last price", money(performance.last_price)),
        ("Starting capital", money(performance.starting_capital)),
        ("Equity", money(performance.equity)),
        ("P&L", money(performance.total_pnl)),
        ("Realized", money(performance.realized_pnl)),
        ("Unrealized", money(performance.unrealized_pnl)),
        ("Fees", money(performance.fees_paid)),
        ("Trades", str(performance.trades)),
        ("Win rate", f"{rate * 100:.1f}%" if rate is not None else "-"),
        ("Max drawdown", f"{performance.max_drawdown * 100:.2f}%"),
    ]
