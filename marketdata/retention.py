"""Retention of market data: candles per timeframe, tickers and balance snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from marketdata.models import BalanceSnapshot, Candle, Ticker
from project.kernel.db import delete_in_batches


def market_data_cleanup(*, now: datetime) -> dict[str, int]:
    """Delete candles (per timeframe), tickers and balance snapshots past their retention
    (RETENTION_* settings; 0 keeps forever). Returns the count deleted per kind."""
    batch = settings.RETENTION_BATCH_SIZE
    report: dict[str, int] = {}
    for timeframe, days in sorted(settings.RETENTION_CANDLE_DAYS.items()):
        if days:
            old = Candle.objects.filter(timeframe=timeframe, open_time__lt=now - timedelta(days))
            report[f"candles_{timeframe}"] = delete_in_batches(old, batch_size=batch)
    if settings.RETENTION_TICKER_DAYS:
        old = Ticker.objects.filter(time__lt=now - timedelta(settings.RETENTION_TICKER_DAYS))
        report["tickers"] = delete_in_batches(old, batch_size=batch)
    if settings.RETENTION_BALANCE_SNAPSHOT_DAYS:
        cutoff = now - timedelta(settings.RETENTION_BALANCE_SNAPSHOT_DAYS)
        old = BalanceSnapshot.objects.filter(taken_at__lt=cutoff)
        report["balance_snapshots"] = delete_in_batches(old, batch_size=batch)
    return report
