"""Schema-driven fuzzing: schemathesis sends generated requests to every operation of
/api/schema/ on a live server, valid and invalid ones, with all its checks: no 5xx, every status
and body as the schema says, invalid data refused, valid data accepted."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import hypothesis
import pytest
import schemathesis
from rest_framework.authtoken.models import Token

from marketdata.models import BalanceSnapshot, Candle
from strategies.engine import get_strategy_class
from strategies.errors import InvalidParameters, UnknownStrategy
from strategies.models import Strategy, StrategyRun
from tests.factories import ExchangeAccountFactory, MarketFactory, StrategyFactory, UserFactory

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)

# Bounded so the whole test stays within about three minutes on a loaded machine.
EXAMPLES_PER_OPERATION = 20


@dataclass
class Seed:
    token: str
    strategy_id: int
    doomed_id: int
    market_id: int
    account_id: int
    exchange_id: int


def seed_data() -> Seed:
    """A user with an account, balances, candles and two strategies, one with runs (and another
    user's account); their token and the ids valid requests refer to."""
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
    token = Token.objects.create(user=user).key
    return Seed(token, strategy.pk, doomed.pk, market.pk, account.pk, account.exchange_id)


UNIQUE = itertools.count()


def make_meaningful(case: schemathesis.Case, seed: Seed) -> None:
    """What a schema cannot say, made true of a valid case: references name objects that exist
    and are the user's, names are unique per user, a time range starts before it ends, and
    parameters are those of the chosen kind and agree with each other (e.g. fast < slow)."""
    query = case.query or {}
    if "start" in query and "end" in query:
        start, end = sorted([query["start"], query["end"]], key=parse_datetime)
        query["start"], query["end"] = start, end
        if parse_datetime(start) == parse_datetime(end):
            del query["end"]
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return
    for field, value in (("market", seed.market_id), ("exchange", seed.exchange_id)):
        if field in body:
            body[field] = value
    if body.get("account") is not None:
        body["account"] = seed.account_id
    if body.get("strategy") is not None:
        body["strategy"] = seed.strategy_id
    if "start" in body and "end" in body:  # a backtest's period: of the strategy, or from scratch
        make_a_period(body)
        if body.get("strategy") is None and not {"market", "kind"} <= body.keys():
            body["strategy"] = seed.strategy_id
    if body.get("mode") == "live":
        body["account"] = seed.account_id
    elif "account" in body and body["account"] is None:
        # Live trading needs the account; the pinned strategy may be live after an earlier
        # case, so a body that removes the account also makes it paper.
        body["mode"] = "paper"
    for field in ("name", "label"):
        if isinstance(body.get(field), str):
            body[field] = f"{body[field][:90]} {next(UNIQUE)}"
    if "crontab" in body:
        body["crontab"] = "*/15 * * * *" if body["crontab"] else ""
    if "space" in body:
        sweep_made_meaningful(body)
    elif "parameters" in body or "kind" in body:
        # Without a kind, a change applies to the pinned strategy's kind as it is now (an
        # earlier case may have changed it).
        kind = body.get("kind") or Strategy.objects.get(pk=seed.strategy_id).kind
        body["parameters"] = parameters_for(kind, body)


def sweep_made_meaningful(body: dict[str, object]) -> None:
    """A sweep's space names the kind's parameters, its period is long enough for its folds."""
    body["kind"] = "sma_crossover"
    body["space"] = {"fast": {"values": [2, 3]}, "slow": {"min": 10, "max": 12, "step": 1}}
    body["start"], body["end"] = "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"
    body["folds"] = 0


def make_a_period(body: dict[str, object]) -> None:
    """`start` before `end`, an hour to a year apart."""
    start, end = sorted([parse_datetime(body["start"]), parse_datetime(body["end"])])
    if end - start < timedelta(hours=1):
        if end.year > 1:
            start = end - timedelta(hours=1)
        else:
            end = start + timedelta(hours=1)
    start = max(start, end - timedelta(days=365))
    body["start"], body["end"] = start.isoformat(), end.isoformat()


def parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parameters_for(kind: str, body: dict[str, object]) -> dict[str, object]:
    try:
        strategy_class = get_strategy_class(kind)
    except UnknownStrategy:
        return {}
    given = body.get("parameters") or {}
    own = {name: value for name, value in given.items() if name in strategy_class.parameters}
    try:
        strategy_class.clean_parameters(own)
    except InvalidParameters:
        return {}
    return own


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, "negative"])
def test_fuzzing_every_operation_passes_every_check(
    live_server: LiveServer, settings: Settings, mode: str
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"writes": "100000/minute"},
    }
    seed = seed_data()
    headers = {"Authorization": f"Token {seed.token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    generation_mode = schemathesis.GenerationMode(mode)
    positive = generation_mode is schemathesis.GenerationMode.POSITIVE
    operations = [result.ok() for result in schema.get_all_operations()]
    if not positive:
        # A request without parameters or body (GET /api/strategy-kinds/) has nothing to make
        # invalid: hypothesis would find no case at all. The positive run covers it.
        operations = [
            op for op in operations if len(op.path_parameters) + len(op.query) + len(op.body)
        ]

    for operation in operations:
        # Random ids would mostly find a 404 (or delete the strategy the later operations use):
        # valid cases aim at the user's strategies, the second one for deletion.
        pinned = None
        if positive and operation.path.startswith("/api/strategies/{id}/"):
            pinned = {"id": seed.doomed_id if operation.method == "delete" else seed.strategy_id}

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
            if positive:
                make_meaningful(case, seed)
            case.call_and_validate(base_url=live_server.url, headers=headers)

        fuzz()

    assert len(operations) >= 10
