"""Fixtures of the fault-injection tests: the session's embedded servers, to take down and
bring back, and a market on the simulated exchange. Models are imported inside the fixtures:
pytest may load this module before Django is set up. Conftests take them from here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.session import stack

if TYPE_CHECKING:
    from marketdata.models import Exchange, Market
    from project.devstack.embedded import EmbeddedPostgres, EmbeddedRedis


@pytest.fixture
def embedded_postgres() -> EmbeddedPostgres:
    server = stack.postgres
    if server is None:
        pytest.skip("needs the session's embedded PostgreSQL (TEST_DATABASE_URL is set)")
    return server


@pytest.fixture
def embedded_redis() -> EmbeddedRedis:
    server = stack.redis
    if server is None:
        pytest.skip("needs the session's embedded Redis (TEST_REDIS_URL is set)")
    return server


@pytest.fixture
def postgres_outage(embedded_postgres: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    """The server, to `halt()` and `resume()`; resumed (and reconnected) whatever happens."""
    from tests.faults.helpers import database_back, with_retries

    yield embedded_postgres
    with_retries(embedded_postgres.resume)
    database_back()


@pytest.fixture
def redis_outage(embedded_redis: EmbeddedRedis) -> Iterator[EmbeddedRedis]:
    """The server, to `halt()` and `start()`; running again at the end whatever happens, and
    this process's broker connections made anew."""
    from tests.faults.helpers import broker_back

    yield embedded_redis
    if embedded_redis._process is None:
        embedded_redis.start()
    broker_back()


@pytest.fixture
def btc(exchange: Exchange) -> Market:
    from tests.strategies.helpers import add_candles

    market = exchange.markets.get(symbol="BTC/USD")
    add_candles(market, [100, 100])
    return market
