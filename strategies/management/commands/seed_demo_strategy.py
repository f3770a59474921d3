"""`make run`'s demo strategy: a paper DCA on the demo exchange's BTC/USD, 1m, started."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from marketdata.models import Market
from strategies.models import PaperPosition, Strategy
from strategies.services import strategy_create, strategy_start

DEMO_NAME = "Demo DCA 1m"
DEMO_EXCHANGE, DEMO_SYMBOL = "demo", "BTC/USD"
# It buys every minute, all day and the days after: 20 USD a buy (the demo market's minimum
# order is 10 USD, and an amount truncated to its step costs a little less than asked) from a
# paper balance of 100,000 USD lasts about 3.5 days (1,440 buys a day).
DEMO_QUOTE_AMOUNT = Decimal(20)
DEMO_PAPER_BALANCE = Decimal(100_000)


def demo_strategy_seed() -> Strategy | None:
    """The first superuser's demo strategy, created and started once. Idempotent: an existing
    one is left as it is (stopped stays stopped). None without a superuser or the demo market."""
    owner = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    market = Market.objects.filter(exchange__name=DEMO_EXCHANGE, symbol=DEMO_SYMBOL).first()
    if owner is None or market is None:
        return None
    existing = Strategy.objects.filter(owner=owner, name=DEMO_NAME).first()
    if existing is not None:
        return existing
    data = {"name": DEMO_NAME, "market": market, "timeframe": "1m", "kind": "dca"}
    parameters = {"quote_amount": str(DEMO_QUOTE_AMOUNT)}
    strategy = strategy_create(owner=owner, data={**data, "parameters": parameters})
    PaperPosition.objects.create(strategy=strategy, quote_balance=DEMO_PAPER_BALANCE)
    return strategy_start(strategy=strategy)


class Command(BaseCommand):
    help = "Create and start the demo strategy (paper DCA, demo:BTC/USD 1m) once."

    def handle(self, *args: Any, **options: Any) -> None:
        strategy = demo_strategy_seed()
        if strategy is None:
            self.stdout.write("No superuser or no demo market yet: no demo strategy.")
            return
        state = "running" if strategy.is_active else "stopped"
        self.stdout.write(f"Demo strategy {strategy.pk} '{strategy.name}' ({state}).")
