"""The backtest page (staff only): progress while it runs, then the candles with its fills
marked, the equity curve, the figures and the trades in pages; one button makes it a paper
strategy. The charts are the strategy page's own (strategies/static/strategies)."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from strategies.backtesting.models import Backtest
from strategies.backtesting.services import strategy_from_backtest
from strategies.chart import MAX_BUCKETS, ChartBar, bucket_width, candles_downsampled

TRADES_PER_PAGE = 50
FIGURES = (
    ("Total return", "total_return_pct", "%"),
    ("CAGR", "cagr_pct", "%"),
    ("Max drawdown", "max_drawdown_pct", "%"),
    ("Sharpe (daily, x sqrt 365)", "sharpe", ""),
    ("Sortino (daily, x sqrt 365)", "sortino", ""),
    ("Win rate", "win_rate_pct", "%"),
    ("Profit factor", "profit_factor", ""),
    ("Exposure", "exposure_pct", "%"),
    ("Fees", "fees", ""),
    ("Trades", "trades", ""),
    ("Orders", "orders", ""),
    ("Final equity", "final_equity", ""),
)


@staff_member_required
def backtest_page(request: HttpRequest, pk: int) -> HttpResponse:
    backtest = get_object_or_404(Backtest.objects.select_related("market", "owner"), pk=pk)
    page = _page_number(request)
    first = (page - 1) * TRADES_PER_PAGE
    trades = list(backtest.trades.order_by("seq")[first : first + TRADES_PER_PAGE + 1])
    context = {
        **admin.site.each_context(request),
        "backtest": backtest,
        "figures": _figures(backtest.figures or {}),
        "chart": backtest_chart(backtest) if backtest.status == Backtest.Status.SUCCEEDED else {},
        "trades": trades[:TRADES_PER_PAGE],
        "page": page,
        "has_next": len(trades) > TRADES_PER_PAGE,
        "title": f"Backtest {backtest.pk}",
    }
    return render(request, "strategies/backtest_page.html", context)


@staff_member_required
@require_POST
def backtest_to_strategy(request: HttpRequest, pk: int) -> HttpResponse:
    backtest = get_object_or_404(Backtest, pk=pk)
    name = request.POST.get("name", "").strip() or f"From backtest {backtest.pk}"
    try:
        strategy = strategy_from_backtest(owner=request.user, backtest=backtest, name=name)
    except (ValidationError, ValueError) as error:
        messages.error(request, f"No strategy created: {error}")
        return redirect("strategies:backtest-page", pk=pk)
    messages.success(
        request, f"Paper strategy {strategy.name} created (stopped) from backtest {pk}."
    )
    return redirect("admin:strategies_strategy_change", strategy.pk)


def backtest_chart(backtest: Backtest) -> dict[str, Any]:
    """The strategy page's chart data: bars of the period, the fills marked on their bars, and
    the equity curve."""
    bars = candles_downsampled(
        market_id=backtest.market_id,
        timeframe=backtest.timeframe,
        since=backtest.start,
        until=backtest.end,
    )
    times = [int(bar.time.timestamp()) for bar in bars]
    equity = {int(_epoch(moment)): value for moment, value in backtest.equity}
    span = backtest.end - backtest.start
    return {
        "bars": [_bar(time, bar) for time, bar in zip(times, bars, strict=True)],
        "signals": [],
        "fills": _fills_on_bars(backtest, times),
        "equity": [{"time": time, "value": value} for time, value in sorted(equity.items())],
        "bucket_seconds": bucket_width(
            span=span, timeframe=backtest.timeframe, buckets=MAX_BUCKETS - 1
        ),
    }


def _bar(time: int, bar: ChartBar) -> dict[str, float]:
    prices = {name: float(getattr(bar, name)) for name in ("open", "high", "low", "close")}
    return {"time": time, **prices, "volume": float(bar.volume)}


def _fills_on_bars(backtest: Backtest, times: list[int]) -> list[dict[str, Any]]:
    """The first fill on each bar, marked there (a chart marks bars, not moments)."""
    fills = backtest.fills.order_by("seq").values_list("tick", "side", "amount", "price")
    marked: list[dict[str, Any]] = []
    for tick, side, amount, price in fills.iterator(chunk_size=5000):
        index = bisect_right(times, int(tick.timestamp())) - 1
        if index < 0 or (marked and marked[-1]["bar_time"] == times[index]):
            continue
        marked.append(
            {"time": int(tick.timestamp()), "bar_time": times[index], "side": side,
             "amount": float(amount), "price": float(price)}
        )  # fmt: skip
    return marked


def _epoch(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()


def _figures(figures: dict[str, Any]) -> list[tuple[str, str]]:
    shown = []
    for label, key, unit in FIGURES:
        value = figures.get(key)
        if value is None:
            shown.append((label, "-"))
        elif isinstance(value, float):
            shown.append((label, f"{value:,.2f}{unit}"))
        else:
            shown.append((label, f"{value}{unit}"))
    return shown


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return max(int(raw), 1) if raw.isdigit() else 1
