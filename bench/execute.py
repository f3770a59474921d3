"""Benchmark: paper-mode strategy executions through a real worker against a no-op Celery task.

Both go through the same worker (prefork, concurrency 2), Redis broker and PostgreSQL result
backend in the same run, on a throw-away embedded stack. Each execution claims its run, reads
candles, decides (DCA: buys every run), writes and fills a paper order and moves the position.
The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

from celery import shared_task

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._stack import django_on_ephemeral_stack  # noqa: E402

STRATEGIES = 1000  # executions spread over this many strategies, so no two overlap
BLOCKS = 5


@shared_task(name="bench_noop")
def bench_noop() -> None:
    """The baseline: a task that does nothing but travel through Celery."""


@shared_task(name="bench_noop_acks_late", acks_late=True, reject_on_worker_lost=True)
def bench_noop_acks_late() -> None:
    """The baseline with the strategy job's delivery options (acknowledged after it runs)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages per phase")
    args = parser.parse_args()

    with django_on_ephemeral_stack():
        figures = _measure(args.count)
    print(json.dumps(figures))


def _measure(count: int) -> dict[str, object]:
    from strategies.models import Order, StrategyRun

    strategy_ids, ticks = _fixtures(count)
    jobs = [(sid, tick.isoformat()) for tick in ticks for sid in strategy_ids][:count]
    seconds = _phases_timed(count, jobs)
    succeeded = StrategyRun.objects.filter(status=StrategyRun.Status.SUCCEEDED).count()
    filled = Order.objects.filter(status=Order.Status.FILLED).count()
    if succeeded != count or filled != count:
        raise SystemExit(f"expected {count} succeeded runs and fills, got {succeeded}, {filled}")
    rates = {phase: count / spent for phase, spent in seconds.items()}
    figures = {
        "benchmark": "execute",
        "count": count,
        "noop_per_s": round(rates["noop"], 1),
        "noop_acks_late_per_s": round(rates["noop_acks_late"], 1),
        "execute_per_s": round(rates["execute"], 1),
        "ratio": round(rates["execute"] / rates["noop"], 3),
        "ratio_acks_late": round(rates["execute"] / rates["noop_acks_late"], 3),
        "target_ratio_acks_late": 0.7,
        "orders_filled": filled,
    }
    for phase, rate in rates.items():
        print(f"{phase:>16}: {count} in {seconds[phase]:6.1f} s = {rate:7.1f}/s")
    print(
        f"execution / no-op: {figures['ratio']:.0%}; / no-op with acks_late: "
        f"{figures['ratio_acks_late']:.0%} (target 70%)"
    )
    return figures


def _phases_timed(count: int, jobs: list[tuple[int, str]]) -> dict[str, float]:
    """Seconds each phase took through one real worker. The phases alternate in blocks, so a
    change in the load of the (shared) machine weighs on all of them alike."""
    from django_celery_results.models import TaskResult

    from tests.processes import start_celery_worker

    phases = {
        "noop": lambda n, start: [("bench_noop", ())] * n,
        "noop_acks_late": lambda n, start: [("bench_noop_acks_late", ())] * n,
        "execute": lambda n, start: [
            ("execute_single_strategy", job) for job in jobs[start : start + n]
        ],
    }
    names = {"noop": "bench_noop", "noop_acks_late": "bench_noop_acks_late"}
    names["execute"] = "execute_single_strategy"
    seconds = dict.fromkeys(phases, 0.0)
    worker = start_celery_worker(concurrency=2, CELERY_EXTRA_IMPORTS="bench.execute")
    size = -(-count // BLOCKS)
    try:
        for start in range(0, count, size):
            n = min(size, count - start)
            for phase, messages in phases.items():
                seconds[phase] += _timed(
                    start + n,
                    messages(n, start),
                    lambda task=names[phase]: TaskResult.objects.filter(task_name=task).count(),
                )
    finally:
        worker.stop()
    return seconds


def _fixtures(count: int) -> tuple[list[int], list[object]]:
    """DCA strategies on one market with fresh hourly candles, and the ticks to run."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from strategies.models import Strategy

    user = get_user_model().objects.create(username="bench")
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    market = _market_with_candles(now)
    strategies = Strategy.objects.bulk_create(
        Strategy(
            owner=user,
            name=f"dca {n}",
            market=market,
            kind="dca",
            parameters={"quote_amount": "10"},
            max_orders_per_day=10_000,
            is_active=True,  # a stopped strategy records no run
        )
        for n in range(min(STRATEGIES, count))
    )
    per_strategy = -(-count // len(strategies))
    ticks = [now - timedelta(hours=hours) for hours in range(per_strategy)]
    return [s.pk for s in strategies], ticks


def _market_with_candles(now: object) -> object:
    """BTC/USD on a bench exchange with the last day of hourly candles, all at 100."""
    from decimal import Decimal

    from marketdata.models import Candle, Exchange, Market

    exchange = Exchange.objects.create(name="bench", ccxt_id="bitstamp")
    market = Market.objects.create(
        exchange=exchange, symbol="BTC/USD", exchange_symbol="btcusd", base="BTC", quote="USD"
    )
    price = Decimal(100)
    Candle.objects.bulk_create(
        Candle(
            market=market,
            timeframe="1h",
            open_time=now - timedelta(hours=hours),  # type: ignore[operator]
            open=price,
            high=price,
            low=price,
            close=price,
            volume=Decimal(1),
            is_closed=True,
        )
        for hours in range(1, 25)
    )
    return market


def _timed(
    total: int, messages: list[tuple[str, tuple[object, ...]]], done: object, timeout: float = 900.0
) -> float:
    """Seconds from publishing `messages` until `done()` counts `total` finished tasks."""
    from project.celery import app

    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for name, args in messages:
            app.send_task(name, args=args, producer=producer)
    deadline = time.monotonic() + timeout
    while done() < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done()} of {total} finished within {timeout}s")
        time.sleep(0.1)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
