"""Fixtures for market data tests: a simulated exchange on a free loopback port per test.

Django models are imported inside the fixtures: this conftest loads before Django is set up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from marketdata.simulator import SimulatedExchange

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

    from marketdata.models import Exchange, ExchangeAccount

API_KEY, API_SECRET = "key-1", "secret-1"


@pytest.fixture
def simulator() -> Iterator[SimulatedExchange]:
    sim = SimulatedExchange(port=0, accounts={API_KEY: API_SECRET}).start()
    yield sim
    sim.stop()


@pytest.fixture
def fast_retries(settings: Settings) -> Settings:
    settings.EXCHANGE_RETRY_BASE_DELAY = 0.05
    settings.EXCHANGE_RETRY_MAX_DELAY = 5.0
    settings.EXCHANGE_RETRY_ATTEMPTS = 3
    return settings


@pytest.fixture
def exchange(simulator: SimulatedExchange, fast_retries: Settings) -> Exchange:
    """An exchange row on the simulator with its markets loaded through ccxt."""
    from marketdata.services import markets_sync
    from tests.factories import ExchangeFactory

    exchange = ExchangeFactory(api_url=simulator.url)
    fast_retries.EXCHANGE_RATE_LIMITS = {exchange.name: 0}
    markets_sync(exchange_id=exchange.pk)
    return exchange


@pytest.fixture
def account(exchange: Exchange) -> ExchangeAccount:
    from tests.factories import ExchangeAccountFactory

    return ExchangeAccountFactory(exchange=exchange, api_key=API_KEY, api_secret=API_SECRET)
