"""`make run` seeds one demo strategy, a 1m paper DCA on the demo exchange, once."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from project.scheduling import IntervalTrigger, Scheduler
from strategies.models import Strategy
from strategies.services import strategy_stop
from tests.factories import ExchangeFactory, MarketFactory


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
