"""A collection round over 100 markets on the simulator against its slowest single request.

    python bench/collect.py [--markets 100] [--latency 0.5] [--rounds 3]

The simulator adds `latency` seconds to every answer, as a distant exchange would. A round
that really runs in parallel takes about one request's time, not `markets` of them; the
target is within 2x the slowest single request. Rounds are timed `rounds` times (each an
ordinary incremental round, as every minute in production) and the median counts; the last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from _stack import django_on_ephemeral_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markets", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    os.environ.update(
        EXCHANGE_RATE_LIMITS="bench=0",
        EXCHANGE_CONCURRENCY=str(options.markets + 1),
        MARKETDATA_BACKFILL_CANDLES="60",
    )
    with django_on_ephemeral_stack():
        from marketdata.simulator import SimulatedExchange

        sim = SimulatedExchange(port=0, extra_markets=options.markets).start()
        try:
            exchange = _watched_exchange(sim.url, options.markets)
            sim.latency = options.latency
            singles = _single_requests(exchange)
            rounds, summary = _rounds(options.rounds)
        finally:
            sim.stop()
    _report(options.latency, singles, rounds, summary, requests=len(sim.requests()))


def _watched_exchange(url: str, markets: int) -> Any:
    """The simulator as an exchange with `markets` 1m series watched and backfilled."""
    from marketdata.models import Exchange, Watchlist
    from marketdata.services import market_data_collect, markets_sync

    exchange = Exchange.objects.create(name="bench", ccxt_id="bitstamp", api_url=url)
    markets_sync(exchange_id=exchange.pk)
    for market in exchange.markets.filter(symbol__startswith="T")[:markets]:
        Watchlist.objects.create(market=market, timeframe="1m")
    market_data_collect()  # the backfill round
    return exchange


def _single_requests(exchange: Any) -> list[float]:
    """Seconds of single OHLCV requests for three of the watched series, one at a time."""
    from marketdata.exchanges import ExchangeConfig, build_client

    client = build_client(ExchangeConfig.of(exchange))
    singles = []
    watched = sorted(
        exchange.markets.filter(watchlist__isnull=False).values_list("symbol", flat=True)
    )
    for symbol in {watched[0], watched[len(watched) // 2], watched[-1]}:
        started = time.perf_counter()
        client.fetch_ohlcv(symbol, "1m", limit=5)
        singles.append(time.perf_counter() - started)
    client.close()
    return singles


def _rounds(count: int) -> tuple[list[float], dict[str, Any]]:
    """Seconds of `count` incremental collection rounds, and the summary of their errors and
    slowest request."""
    from marketdata.services import market_data_collect

    rounds: list[float] = []
    errors, slowest_in_round = 0, 0.0
    for _ in range(count):
        started = time.perf_counter()
        summary = market_data_collect()["bench"]
        rounds.append(time.perf_counter() - started)
        errors += len(summary["errors"])
        slowest_in_round = max(slowest_in_round, summary["slowest_request_ms"] / 1000)
    return rounds, {"feeds": summary["feeds"], "errors": errors, "slowest": slowest_in_round}


def _report(
    latency: float,
    singles: list[float],
    rounds: list[float],
    summary: dict[str, Any],
    *,
    requests: int,
) -> None:
    slowest = max(singles)
    round_s = statistics.median(rounds)
    figures = {
        "markets": summary["feeds"],
        "requests": requests,
        "latency_s": latency,
        "slowest_single_request_s": round(slowest, 3),
        "round_s": round(round_s, 3),
        "rounds_s": [round(r, 3) for r in rounds],
        "slowest_request_in_rounds_s": summary["slowest"],
        "round_over_slowest": round(round_s / slowest, 2),
        "errors": summary["errors"],
    }
    print(
        f"{figures['markets']} markets: round {round_s:.2f}s (median), slowest single request "
        f"{slowest:.2f}s ({figures['round_over_slowest']}x; target <= 2x)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
