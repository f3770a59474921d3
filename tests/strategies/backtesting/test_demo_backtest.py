"""`make run` seeds one finished demo backtest on the demo market, backfilled from the demo
exchange, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from marketdata.management.commands.seed_demo_exchange import demo_exchange_seed
from marketdata.models import Candle
from project.devstack.stack import SETUP_COMMANDS
from strategies.backtesting.models import Backtest

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

    from marketdata.simulator import SimulatedExchange

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_backtest_is_seeded_finished_once(
    simulator: SimulatedExchange, fast_retries: Settings
) -> None:
    get_user_model().objects.create_superuser("admin", "admin@localhost", "x-password-1")
    demo_exchange_seed(api_url=simulator.url)
    fast_retries.EXCHANGE_RATE_LIMITS = {"demo": 0}

    call_command("seed_demo_backtest")
    call_command("seed_demo_backtest")

    backtest = Backtest.objects.get()
    assert backtest.status == Backtest.Status.SUCCEEDED, backtest.error
    assert (backtest.kind, backtest.timeframe, backtest.market.symbol) == (
        "sma_crossover", "1h", "BTC/USD"
    )  # fmt: skip
    assert backtest.ticks == 30 * 24
    assert Candle.objects.filter(market=backtest.market, timeframe="1h").count() >= 30 * 24
    assert backtest.trades.exists()
    assert ["seed_demo_backtest"] in SETUP_COMMANDS
