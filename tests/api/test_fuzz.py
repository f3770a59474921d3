"""Schema-driven fuzzing: schemathesis sends generated requests to every operation of
/api/schema/ on a live server, valid and invalid ones; none may get a 5xx or break the schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import hypothesis
import pytest
import schemathesis
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from marketdata.models import BalanceSnapshot, Candle
from strategies.models import StrategyRun
from tests.factories import ExchangeAccountFactory, MarketFactory, StrategyFactory, UserFactory

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 25


def seed_data() -> tuple[str, int, int]:
    """A user with an account, balances, candles and two strategies, one with runs (and another
    user's account); their token and the strategies' ids."""
    user = UserFactory()
    account = ExchangeAccountFactory(owner=user)
    ExchangeAccountFactory()
    market = MarketFactory(exchange=account.exchange)
    strategy = StrategyFactory(owner=user, market=market, account=account)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(5):
        moment = start + timedelta(hours=n)
        Candle.objects.create(
            market=market,
            timeframe="1h",
            open_time=moment,
            open=Decimal(n),
            high=Decimal(n),
            low=Decimal(n),
            close=Decimal(n),
            volume=Decimal(n),
        )
        BalanceSnapshot.objects.create(
            account=account, asset="BTC", free=n, used=0, total=n, taken_at=moment
        )
        StrategyRun.objects.create(strategy=strategy, scheduled_tick=moment, status="succeeded")
    doomed = StrategyFactory(owner=user, market=market)
    return Token.objects.create(user=user).key, strategy.pk, doomed.pk


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, "negative"])
def test_fuzzing_every_operation_finds_no_server_error(
    live_server: LiveServer, settings: Settings, mode: str
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"writes": "100000/minute"},
    }
    token, strategy_id, doomed_id = seed_data()
    headers = {"Authorization": f"Token {token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    generation_mode = schemathesis.GenerationMode(mode)
    operations = [result.ok() for result in schema.get_all_operations()]
    if generation_mode is schemathesis.GenerationMode.NEGATIVE:
        # A request without parameters or body (GET /api/strategy-kinds/) has nothing to make
        # invalid: hypothesis would find no case at all. The positive run covers it.
        operations = [
            op for op in operations if len(op.path_parameters) + len(op.query) + len(op.body)
        ]

    for operation in operations:
        # Random ids would mostly find a 404 (or delete the strategy the later operations use):
        # valid cases aim at the user's strategies, the second one for deletion.
        pinned = None
        if generation_mode is schemathesis.GenerationMode.POSITIVE and operation.path.startswith(
            "/api/strategies/{id}/"
        ):
            pinned = {"id": doomed_id if operation.method == "delete" else strategy_id}

        @hypothesis.given(
            case=operation.as_strategy(generation_mode=generation_mode, path_parameters=pinned)
        )
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=live_server.url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
            )

        fuzz()

    assert len(operations) >= 10
