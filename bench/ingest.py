"""Candle upsert: our COPY + one INSERT ... ON CONFLICT against bulk_create(update_conflicts).

    python bench/ingest.py [--rows 1000000]

Both paths insert the same candles (each into its own markets) and then update all of them
with the same new values, in the same run on the same database, market by market in turn; the
last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from _stack import django_on_ephemeral_stack

MARKETS = 10
START = datetime(2020, 1, 1, tzinfo=UTC)


def candles(count: int, shift: int) -> Iterator[tuple[datetime, Decimal, ...]]:
    for i in range(count):
        price = Decimal(10_000 + (i * 7 + shift) % 1000) / 10
        yield (START + timedelta(minutes=i), price, price + 1, price - 1, price, Decimal(i % 97))


def ours(market_id: int, per_market: int, shift: int) -> float:
    from marketdata.exchanges import CandleData
    from marketdata.services import candles_upsert

    started = time.perf_counter()
    rows = (CandleData(*row, True) for row in candles(per_market, shift))
    candles_upsert(market_id=market_id, timeframe="1m", candles=rows)
    return time.perf_counter() - started


def baseline(market_id: int, per_market: int, shift: int) -> float:
    from marketdata.models import Candle

    fields = ["open", "high", "low", "close", "volume", "is_closed"]
    started = time.perf_counter()
    objects = [
        Candle(market_id=market_id, timeframe="1m", open_time=t, open=o, high=h, low=lo,
               close=c, volume=v, is_closed=True)
        for t, o, h, lo, c, v in candles(per_market, shift)
    ]  # fmt: skip
    Candle.objects.bulk_create(
        objects,
        batch_size=5000,
        update_conflicts=True,
        unique_fields=["market", "timeframe", "open_time"],
        update_fields=fields,
    )
    return time.perf_counter() - started


def settle() -> None:
    """Start each phase from the same state: the previous phase's dead rows vacuumed and its
    WAL checkpointed, so that neither side pays for the other's leftovers."""
    from django.db import connection

    from marketdata.models import Candle

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Candle._meta.db_table}")
        cursor.execute("CHECKPOINT")


def phase(pairs: list[tuple[int, int]], per_market: int, shift: int) -> tuple[float, float]:
    """Seconds for ours and for the baseline, market by market in turn (ABBA order), so that
    background work (autovacuum, checkpoints, other processes on the machine) and the table's
    growth fall on both sides alike."""
    settle()
    t_ours = t_base = 0.0
    for n, (ours_id, base_id) in enumerate(pairs):
        if n % 2 == 0:
            t_ours += ours(ours_id, per_market, shift)
            t_base += baseline(base_id, per_market, shift)
        else:
            t_base += baseline(base_id, per_market, shift)
            t_ours += ours(ours_id, per_market, shift)
    return t_ours, t_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    per_market = rows // MARKETS
    with django_on_ephemeral_stack():
        from django.db.models import Count, Sum

        from marketdata.models import Candle, Exchange, Market

        exchange = Exchange.objects.create(name="bench", ccxt_id="bitstamp")
        make = [
            Market(exchange=exchange, symbol=f"T{n}/USD", exchange_symbol=f"t{n}usd",
                   base=f"T{n}", quote="USD")
            for n in range(2 * MARKETS)
        ]  # fmt: skip
        ids = [m.pk for m in Market.objects.bulk_create(make)]
        pairs = list(zip(ids[:MARKETS], ids[MARKETS:], strict=True))
        figures: dict[str, float | int] = {"rows": per_market * MARKETS}
        for name, shift in (("insert", 0), ("update", 500)):
            t_ours, t_base = phase(pairs, per_market, shift)
            figures[f"ours_{name}_rows_per_s"] = round(figures["rows"] / t_ours)
            figures[f"bulk_create_{name}_rows_per_s"] = round(figures["rows"] / t_base)
            figures[f"{name}_speedup"] = round(t_base / t_ours, 2)
            print(
                f"{name}: ours {figures[f'ours_{name}_rows_per_s']:,} rows/s, "
                f"bulk_create {figures[f'bulk_create_{name}_rows_per_s']:,} rows/s "
                f"({figures[f'{name}_speedup']}x)",
                flush=True,
            )
        # Both sides end with the same rows and values, or the comparison would not be fair.
        sides = [
            Candle.objects.filter(market_id__in=side).aggregate(
                rows=Count("id"), close=Sum("close"), volume=Sum("volume"), open=Sum("open")
            )
            for side in zip(*pairs, strict=True)
        ]
        assert sides[0] == sides[1], sides
        assert sides[0]["rows"] == figures["rows"], sides
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
