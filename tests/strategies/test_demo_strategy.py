"""`make run` seeds one demo strategy, a 1m paper DCA on the demo exchange, once; its first
run succeeds on the start-up collection."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from marketdata.management.commands.seed_demo_exchange import demo_exchange_seed
from marketdata.simulator import SimulatedExchange
from project.celery import app
from project.devstack.stack import SETUP_COMMANDS
from project.kernel.scheduling import IntervalTrigger, Scheduler
from strategies.execution import strategy_execute
from strategies.management.commands.seed_demo_strategy import demo_strategy_seed
from strategies.models import Order, PaperPosition, Strategy
from strategies.services import strategy_stop
from tests.factories import ExchangeFactory, MarketFactory

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings


def test_the_demo_strategy_is_created_and_started_once_and_a_stop_is_kept(
    use_backend: Scheduler,
) -> None:
    get_user_model().objects.create_superuser("admin", "admin@localhost", "x-password-1")
    market = MarketFactory(exchange=ExchangeFactory(name="demo"), symbol="BTC/USD")

    call_command("seed_demo_strategy")
    call_command("seed_demo_strategy")
    seeded = Strategy.objects.get()
    job = use_backend.get_job(seeded.job_id)
    strategy_stop(strategy=Strategy.objects.get())
    call_command("seed_demo_strategy")

    assert (seeded.market, seeded.timeframe, seeded.kind) == (market, "1m", "dca")
    assert (seeded.mode, seeded.is_active) == ("paper", True)
    assert job is not None
    assert job.trigger == IntervalTrigger(60)
    assert Strategy.objects.get().is_active is False


@pytest.mark.django_db
def test_without_the_demo_market_nothing_is_seeded() -> None:
    get_user_model().objects.create_superuser("admin", "admin@localhost", "x-password-1")

    call_command("seed_demo_strategy")

    assert not Strategy.objects.exists()


def test_the_demos_first_run_succeeds_on_the_start_up_collection(
    use_backend: Scheduler, simulator: SimulatedExchange, fast_retries: Settings
) -> None:
    # No waiting for the minute's own collection: the start-up one alone must do.
    fast_retries.RUN_CANDLE_WAIT_SECONDS = 0
    get_user_model().objects.create_superuser("admin", "admin@localhost", "x-password-1")
    demo_exchange_seed(api_url=simulator.url)
    fast_retries.EXCHANGE_RATE_LIMITS = {"demo": 0}
    strategy = demo_strategy_seed()
    app.loader.import_default_modules()  # every task module, as a worker loads them
    for name, *args in SETUP_COMMANDS:
        if name == "run_job":
            app.tasks[args[0]]()  # the job's own code, here and now (no eager mode)
    first_tick = strategy.trigger.tick_at(timezone.now())

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=first_tick)

    assert (run.status, run.reason, run.signal) == ("succeeded", "", "buy")
    order = Order.objects.get(run=run)
    assert order.amount * order.average_price >= Decimal(10)  # the demo market's minimum
    assert PaperPosition.objects.get(strategy=strategy).quote_balance < Decimal(100_000)
