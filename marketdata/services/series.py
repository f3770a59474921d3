"""Writes of collected series: candle upserts (COPY + one ON CONFLICT) and ticker snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, transaction

from marketdata.exchanges import CandleData, TickerData
from marketdata.models import Candle, Ticker
from project.kernel.decimals import STORED_DIGITS, STORED_PLACES

CANDLE_COLUMNS = ("market_id", "timeframe", "open_time", "open", "high", "low", "close", "volume")
STAGING_TABLE = "tickwork_candle_staging"
COPY_CHUNK = 10_000


def candles_upsert(*, market_id: int, timeframe: str, candles: Iterable[CandleData]) -> int:
    """Insert or update one series' candles; returns how many rows changed (see
    `candles_upsert_many`)."""
    return candles_upsert_many(series={(market_id, timeframe): candles})


def candles_upsert_many(*, series: Mapping[tuple[int, str], Iterable[CandleData]]) -> int:
    """Insert or update the candles of several (market id, timeframe) series in one statement;
    returns how many rows changed.

    Rows are COPYed into a session-local staging table without indexes, then moved with one
    `INSERT ... ON CONFLICT DO UPDATE` (several times faster than `bulk_create`, see
    bench/ingest.py; MERGE and `UPDATE ... FROM` + `INSERT` measured no faster, and they need
    a lock against concurrent inserts that ON CONFLICT does not). Unchanged rows are not
    rewritten; a closed candle never reopens. Rows go in key order, so concurrent collections
    of the same series cannot deadlock. All or nothing: one series the database refuses
    (e.g. a value too large for its column) fails the whole call.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CREATE_STAGING)
        # Inside an outer transaction (or a test) no commit has emptied it yet.
        cursor.execute(f"TRUNCATE {STAGING_TABLE}")
        # Room to sort a large batch in memory rather than on disk.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        _copy_staged(cursor, series)
        cursor.execute(_MOVE_STAGED)
        return cursor.rowcount


NUMERIC = f"numeric({STORED_DIGITS}, {STORED_PLACES})"  # the candle columns'
CREATE_STAGING = f"""CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} (
    market_id bigint, timeframe varchar(4), open_time double precision,
    open {NUMERIC}, high {NUMERIC}, low {NUMERIC},
    close {NUMERIC}, volume {NUMERIC}, is_closed boolean
) ON COMMIT DELETE ROWS"""


def _move_staged_sql() -> str:
    table = Candle._meta.db_table
    values = ", ".join(f"{c} = EXCLUDED.{c}" for c in CANDLE_COLUMNS[3:])
    columns = ", ".join((*CANDLE_COLUMNS, "is_closed"))
    staged = ", ".join(("market_id", "timeframe", "to_timestamp(open_time)", *CANDLE_COLUMNS[3:]))
    return f"""
        INSERT INTO {table} ({columns})
        SELECT {staged}, is_closed FROM {STAGING_TABLE}
        ORDER BY market_id, timeframe, open_time
        ON CONFLICT (market_id, timeframe, open_time) DO UPDATE
        SET {values}, is_closed = {table}.is_closed OR EXCLUDED.is_closed
        WHERE ({", ".join(f"{table}.{c}" for c in CANDLE_COLUMNS[3:])}, {table}.is_closed)
            IS DISTINCT FROM
            ({", ".join(f"EXCLUDED.{c}" for c in CANDLE_COLUMNS[3:])},
             {table}.is_closed OR EXCLUDED.is_closed)
        """  # noqa: S608 - table and column names are ours


_MOVE_STAGED = _move_staged_sql()


def _copy_staged(cursor: Any, series: Mapping[tuple[int, str], Iterable[CandleData]]) -> None:
    columns = ", ".join((*CANDLE_COLUMNS, "is_closed"))
    # The raw psycopg COPY bypasses Django's translation of errors (e.g. into DataError).
    with (
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {STAGING_TABLE} ({columns}) FROM STDIN") as copy,
    ):
        # Text rows built here are several times faster than write_row's per-value dumpers;
        # epoch seconds (exact to the microsecond) cost a fifth of isoformat().
        lines: list[str] = []
        for (market_id, timeframe), candles in series.items():
            prefix = f"{market_id}\t{timeframe}\t"
            for c in candles:
                lines.append(
                    f"{prefix}{c.open_time.timestamp()!r}\t{c.open!s}\t{c.high!s}\t"
                    f"{c.low!s}\t{c.close!s}\t{c.volume!s}\t{'t' if c.is_closed else 'f'}\n"
                )
                if len(lines) >= COPY_CHUNK:
                    copy.write("".join(lines))
                    lines.clear()
        copy.write("".join(lines))


@transaction.atomic
def tickers_store(*, tickers: Iterable[tuple[int, TickerData]]) -> int:
    """Store ticker snapshots, given as (market id, ticker) pairs, in one statement; one per
    market and exchange timestamp, repeats ignored. All or nothing."""
    rows = [
        Ticker(
            market_id=market_id,
            time=t.time,
            last=t.last,
            bid=t.bid,
            ask=t.ask,
            high=t.high,
            low=t.low,
            volume=t.volume,
        )
        for market_id, t in tickers
    ]
    return len(Ticker.objects.bulk_create(rows, ignore_conflicts=True))
