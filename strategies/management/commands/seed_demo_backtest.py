"""`make run`'s demo backtest: an SMA crossover on the demo BTC/USD over the last 30 days of
hourly candles, backfilled from the demo exchange and run to the end, once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from marketdata.models import Market
from strategies.backtesting.models import Backtest
from strategies.backtesting.running import backtest_execute
from strategies.backtesting.services import backtest_create

DEMO_EXCHANGE, DEMO_SYMBOL = "demo", "BTC/USD"
DEMO_DAYS = 30


def demo_backtest_seed() -> Backtest | None:
    """The first superuser's demo backtest, created and run here once (the `backtests` worker
    then finds it finished). Idempotent: an existing one is left as it is. None without a
    superuser or the demo market."""
    owner = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    market = Market.objects.filter(exchange__name=DEMO_EXCHANGE, symbol=DEMO_SYMBOL).first()
    if owner is None or market is None:
        return None
    existing = Backtest.objects.filter(owner=owner, market=market, strategy=None).first()
    if existing is not None:
        return existing
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    data = {
        "market": market,
        "timeframe": "1h",
        "kind": "sma_crossover",
        "parameters": {"fast": 10, "slow": 30},
        "start": end - timedelta(days=DEMO_DAYS),
        "end": end,
    }
    backtest = backtest_create(owner=owner, data=data)
    backtest_execute(backtest_id=backtest.pk)
    backtest.refresh_from_db()
    return backtest


class Command(BaseCommand):
    help = "Create and run the demo backtest (SMA crossover, demo:BTC/USD 1h, 30 days) once."

    def handle(self, *args: Any, **options: Any) -> None:
        backtest = demo_backtest_seed()
        if backtest is None:
            self.stdout.write("No superuser or no demo market yet: no demo backtest.")
            return
        self.stdout.write(f"Demo backtest {backtest.pk}: {backtest.status}.")
