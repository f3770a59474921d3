"""A collection round over 100 markets on the simulator against its slowest single request.

    python bench/collect.py [--markets 100] [--latency 0.5]

The simulator adds `latency` seconds to every answer, as a distant exchange would. A round
that really runs in parallel takes about one request's time, not `markets` of them; the
target is within 2x the slowest single request. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _stack import django_on_ephemeral_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markets", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.5)
    options = parser.parse_args()
    os.environ.update(
        EXCHANGE_RATE_LIMITS="bench=0",
        EXCHANGE_CONCURRENCY=str(options.markets + 1),
        MARKETDATA_BACKFILL_CANDLES="60",
    )
    with django_on_ephemeral_stack():
        from marketdata.exchanges import ExchangeConfig, build_client
        from marketdata.models import Exchange, Watchlist
        from marketdata.services import market_data_collect, markets_sync
        from marketdata.simulator import SimulatedExchange

        sim = SimulatedExchange(port=0, extra_markets=options.markets).start()
        try:
            exchange = Exchange.objects.create(name="bench", ccxt_id="bitstamp", api_url=sim.url)
            markets_sync(exchange_id=exchange.pk)
            for market in exchange.markets.filter(symbol__startswith="T")[: options.markets]:
                Watchlist.objects.create(market=market, timeframe="1m")
            market_data_collect()  # the backfill round
            sim.latency = options.latency

            client = build_client(ExchangeConfig.of(exchange))
            singles = []
            for symbol in ("T001/USD", "T050/USD", "T100/USD"):
                started = time.perf_counter()
                client.fetch_ohlcv(symbol, "1m", limit=5)
                singles.append(time.perf_counter() - started)
            client.close()

            started = time.perf_counter()
            summary = market_data_collect()["bench"]
            round_s = time.perf_counter() - started
        finally:
            sim.stop()
    slowest = max(singles)
    figures = {
        "markets": summary["feeds"],
        "requests": len(sim.requests()),
        "latency_s": options.latency,
        "slowest_single_request_s": round(slowest, 3),
        "round_s": round(round_s, 3),
        "slowest_request_in_round_s": summary["slowest_request_ms"] / 1000,
        "round_over_slowest": round(round_s / slowest, 2),
        "errors": len(summary["errors"]),
    }
    print(
        f"{figures['markets']} markets: round {round_s:.2f}s, slowest single request "
        f"{slowest:.2f}s ({figures['round_over_slowest']}x; target <= 2x)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
