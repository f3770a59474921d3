"""Benchmark: what a trader's pages cost at scale, ours beside the stock way, in one run.

- Chart: a year of 1-minute candles (525,600 rows). Ours: `candles_downsampled`, one SQL
  query merging them into at most 1,000 OHLC bars. Stock: reading every candle through the ORM
  (what a chart without server-side downsampling must send to the browser).
- The strategy page of one of those strategies, over the whole year (ours only).
- The dashboard (`/`) over 100,000 strategies: its first and last page (ours only; the stock
  strategy changelist below is the nearest stock page).
- Lists: the admin changelists of 100,000 strategies and 1,000,000 runs. Ours: the strategy
  admin (next run from the trigger, counts capped at 10,001). Stock: a plain `ModelAdmin` on a
  second admin site with the same columns Django would show (full counts).

The last line printed is one JSON object of the figures (medians of `--repeat` timings).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._stack import django_on_ephemeral_stack  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
FILL_SQL = {
    "candles": """
        INSERT INTO marketdata_candle
            (market_id, timeframe, open_time, open, high, low, close, volume, is_closed)
        SELECT %(market)s, '1m', %(start)s + n * interval '1 minute', n, n + 2, n - 2, n + 1, 1,
               true
        FROM generate_series(0, %(count)s - 1) AS n""",
    "strategies": """
        INSERT INTO strategies_strategy
            (owner_id, name, market_id, timeframe, kind, parameters, interval_seconds, crontab,
             crontab_timezone, mode, is_active, paused_reason, max_orders_per_day, created_at,
             updated_at)
        SELECT %(owner)s, 'bench ' || n, %(market)s, '1m', 'dca', '{}', 60, '', 'UTC', 'paper',
               true, '', 24, now(), now()
        FROM generate_series(1, %(count)s) AS n""",
    "runs": """
        INSERT INTO strategies_strategyrun
            (strategy_id, scheduled_tick, started_at, status, signal, parameters, reason,
             error_class, error_message, celery_task_id, trigger)
        SELECT %(strategy)s + n %% %(spread)s, %(start)s + (n / %(spread)s) * interval '1 minute',
               now(),
               'succeeded', 'hold', '{}', '', '', '', '', 'schedule'
        FROM generate_series(0, %(count)s - 1) AS n""",
}


def timed(call: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The median seconds of `repeat` calls, and the last call's result."""
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of 1-minute candles")
    parser.add_argument("--strategies", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with django_on_ephemeral_stack(SECURE_SSL_REDIRECT="0", ALLOWED_HOSTS="testserver"):
        figures = _measure(args)
    print(json.dumps(figures))


def _measure(args: argparse.Namespace) -> dict[str, object]:
    from django.db import connection

    from tests.factories import MarketFactory, UserFactory

    owner, market = UserFactory(is_staff=True, is_superuser=True), MarketFactory()
    first = _fill(connection, owner.pk, market.pk, args)
    figures: dict[str, object] = {"candles": args.days * 1440}
    figures |= _chart(market.pk, args)
    figures |= _lists(owner, first, args)
    figures["load"] = [round(load, 2) for load in os.getloadavg()]
    return figures


def _fill(connection: object, owner: int, market: int, args: argparse.Namespace) -> int:
    from strategies.models import Strategy

    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(
            FILL_SQL["candles"], {"market": market, "start": START, "count": args.days * 1440}
        )
        cursor.execute(
            FILL_SQL["strategies"], {"owner": owner, "market": market, "count": args.strategies}
        )
        first = Strategy.objects.order_by("pk").values_list("pk", flat=True).first()
        # The runs go to the first 1,000 strategies (or all of them, when fewer).
        spread = min(1000, args.strategies)
        runs = {"strategy": first, "start": START, "count": args.runs, "spread": spread}
        cursor.execute(FILL_SQL["runs"], runs)
        cursor.execute("ANALYZE")
    return first


def _chart(market: int, args: argparse.Namespace) -> dict[str, object]:
    from marketdata.models import Candle
    from strategies.chart import candles_downsampled

    until = START + timedelta(minutes=args.days * 1440 - 1)
    ours, bars = timed(
        lambda: candles_downsampled(market_id=market, timeframe="1m", since=START, until=until),
        args.repeat,
    )
    rows = Candle.objects.filter(market_id=market, timeframe="1m").order_by("open_time")
    columns = ("open_time", "open", "high", "low", "close", "volume")
    stock, candles = timed(lambda: list(rows.values_list(*columns)), args.repeat)
    return {
        "chart_ours_s": round(ours, 3),
        "chart_ours_points": len(bars),  # type: ignore[arg-type]
        "chart_stock_s": round(stock, 3),
        "chart_stock_points": len(candles),  # type: ignore[arg-type]
    }


def _lists(owner: object, first: int, args: argparse.Namespace) -> dict[str, object]:
    from django.contrib import admin
    from django.test import Client, override_settings
    from django.urls import clear_url_caches, path

    from strategies.models import Strategy, StrategyRun

    stock_site = admin.AdminSite(name="stock")
    stock_site.register(Strategy, list_display=("name", "kind", "market", "mode", "is_active"))
    stock_site.register(StrategyRun, list_display=("strategy", "scheduled_tick", "status"))
    urls = type("urls", (), {"urlpatterns": [path("stock/", stock_site.urls)]})
    figures: dict[str, object] = {"strategies": args.strategies, "runs": args.runs}
    plain = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    client = Client()
    client.force_login(owner)  # type: ignore[arg-type]
    with override_settings(
        STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}, **plain}
    ):
        for name, page in (("strategy_list", "strategy/"), ("run_list", "strategyrun/")):
            figures[f"{name}_ours_s"] = _page(client, f"/admin/strategies/{page}", args.repeat)
            with override_settings(ROOT_URLCONF=urls):
                clear_url_caches()
                figures[f"{name}_stock_s"] = _page(client, f"/stock/strategies/{page}", args.repeat)
            clear_url_caches()
        # The front door over every strategy: its first and its last page of 100.
        figures["dashboard_first_page_s"] = _page(client, "/", args.repeat)
        last = -(-args.strategies // 100)
        figures["dashboard_last_page_s"] = _page(client, f"/?page={last}", args.repeat)
        # The whole strategy page over the year of candles: chart, equity, figures, runs.
        figures["strategy_page_ours_s"] = _page(client, f"/strategies/{first}/", args.repeat)
    return figures


def _page(client: object, url: str, repeat: int) -> float:
    def get() -> int:
        response = client.get(url)  # type: ignore[attr-defined]
        assert response.status_code == 200, (url, response.status_code)
        return response.status_code

    get()  # warm-up: templates, URL resolvers and the connection are ready before timing
    seconds, _ = timed(get, repeat)
    return round(seconds, 3)


if __name__ == "__main__":
    main()
