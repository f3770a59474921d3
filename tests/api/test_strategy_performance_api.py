"""The strategy resource carries position, P&L, next and last run from the page's service."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from marketdata.models import BalanceSnapshot
from strategies.models import PaperPosition, Strategy, StrategyRun
from tests.factories import ExchangeAccountFactory, MarketFactory, StrategyFactory, UserFactory
from tests.strategies.helpers import add_candles
from tests.strategies.scripted import (
    START,
    script_fills,
    scripted,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.django_db


def test_the_strategy_resource_shows_the_hand_computed_position_and_pnl(
    scripted,  # noqa: F811
) -> None:
    api = APIClient()
    api.force_authenticate(scripted.owner)

    data = api.get(f"/api/strategies/{scripted.pk}/").json()

    assert data["position"] == {
        "base_amount": "1",
        "quote_balance": "9899.44",
        "average_entry_price": "130",
        "fees_paid": "0.56",
        "balances": {},
        "balances_synced_at": None,
    }
    assert data["pnl"]["realized"] == "29.57"
    assert data["pnl"]["unrealized"] == "19.87"
    assert data["pnl"]["total"] == "49.44"
    assert data["pnl"]["win_rate"] == "0.5"
    assert data["pnl"]["profit_factor"] == "296.7"  # 29.67 / 0.10, as the trades endpoint
    assert data["pnl"]["max_drawdown"] == "0.006"
    assert data["last_run"]["signal"] == "sell"


def test_the_trades_endpoint_lists_fifo_round_trips_and_the_open_trade(
    scripted,  # noqa: F811
) -> None:
    api = APIClient()
    api.force_authenticate(scripted.owner)

    data = api.get(f"/api/strategies/{scripted.pk}/trades/").json()

    assert data["summary"] == {
        "closed": 2,
        "wins": 1,
        "losses": 1,
        "win_rate": "50",
        "profit_factor": "296.7",
        "closed_profit": "29.57",
    }
    newest, oldest = data["closed"]
    assert (oldest["amount"], oldest["entry_price"], oldest["exit_price"]) == ("1.5", "100", "120")
    assert (oldest["profit"], oldest["fees"]) == ("29.67", "0.33")
    assert oldest["profit_pct"] == "19.76"  # 29.67 / 150.15 x 100
    assert oldest["duration_seconds"] == 2 * 3600
    assert newest["profit"] == "-0.1"
    assert data["open_trade"]["is_open"] is True
    assert (data["open_trade"]["entry_price"], data["open_trade"]["exit_price"]) == ("130", "150")
    assert data["open_trade"]["profit"] == "19.87"


def test_next_run_is_the_next_tick_while_active_and_null_when_stopped() -> None:
    active = StrategyFactory(interval_seconds=60)
    stopped = StrategyFactory(owner=active.owner, is_active=False)
    api = APIClient()
    api.force_authenticate(active.owner)
    before = timezone.now()

    listed = {item["id"]: item for item in api.get("/api/strategies/").json()["results"]}

    next_run = listed[active.pk]["next_run_at"]
    moment = datetime.fromisoformat(next_run)
    assert before < moment <= before + timedelta(seconds=61)
    assert moment.second == 0
    assert listed[stopped.pk]["next_run_at"] is None
    assert listed[stopped.pk]["last_run"] is None


def test_last_run_is_the_newest_tick(db: None) -> None:
    strategy = StrategyFactory()
    now = timezone.now().replace(microsecond=0)
    for minutes_ago, status in ((2, "failed"), (1, "succeeded")):
        StrategyRun.objects.create(
            strategy=strategy, scheduled_tick=now - timedelta(minutes=minutes_ago), status=status
        )
    api = APIClient()
    api.force_authenticate(strategy.owner)

    data = api.get(f"/api/strategies/{strategy.pk}/").json()

    assert data["last_run"]["status"] == "succeeded"


def test_the_list_reads_last_runs_in_one_query_for_the_page(db: None) -> None:
    owner = StrategyFactory().owner
    for strategy in [*StrategyFactory.create_batch(3, owner=owner)]:
        StrategyRun.objects.create(
            strategy=strategy, scheduled_tick=timezone.now(), status="failed"
        )
    api = APIClient()
    api.force_authenticate(owner)

    with CaptureQueriesContext(connection) as captured:
        listed = api.get("/api/strategies/").json()["results"]

    run_queries = [q for q in captured if 'FROM "strategies_strategyrun"' in q["sql"]]
    assert len(run_queries) == 1
    assert sorted(str(item["last_run"] and item["last_run"]["status"]) for item in listed) == [
        "None",
        "failed",
        "failed",
        "failed",
    ]


def traded_strategies(owner: object, count: int) -> list[Strategy]:
    """Strategies with fills, prices, a paper position or a synced live account, each on its
    own market: every input of the figures is there to be read."""
    strategies = []
    for number in range(count):
        market = MarketFactory()
        add_candles(market, [100, 150], ended_at=START + timedelta(hours=6))
        if number % 2 == 0:  # the first is live: a list of one reads everything there is
            account = ExchangeAccountFactory(owner=owner, exchange=market.exchange)
            strategy = StrategyFactory(owner=owner, market=market, mode="live", account=account)
            BalanceSnapshot.objects.create(
                account=account, asset="BTC", free=1, used=0, total=1, taken_at=START
            )
        else:
            strategy = StrategyFactory(owner=owner, market=market)
            PaperPosition.objects.create(strategy=strategy, base_amount=1, quote_balance=9000)
        script_fills(strategy)
        strategies.append(strategy)
    return strategies


def test_the_list_shows_position_and_pnl_in_as_many_queries_for_20_strategies_as_for_1(
    django_assert_max_num_queries: object,
) -> None:
    alone, crowd = UserFactory(), UserFactory()
    traded_strategies(alone, 1)
    traded_strategies(crowd, 20)
    api = APIClient()
    api.force_authenticate(alone)
    with CaptureQueriesContext(connection) as one:
        first = api.get("/api/strategies/").json()["results"]
    api.force_authenticate(crowd)

    with django_assert_max_num_queries(len(one)):  # type: ignore[operator]
        listed = api.get("/api/strategies/").json()["results"]

    assert len(listed) == 20
    assert {item["pnl"]["total"] for item in first + listed} == {"49.44"}
    assert all(item["last_run"] is not None for item in listed)


def test_runs_carry_their_trigger_and_the_strategy_its_market_as_a_label(
    scripted,  # noqa: F811
) -> None:
    api = APIClient()
    api.force_authenticate(scripted.owner)

    runs = api.get(f"/api/strategies/{scripted.pk}/runs/").json()["results"]
    strategy = api.get(f"/api/strategies/{scripted.pk}/").json()

    assert {run["trigger"] for run in runs} == {"schedule"}
    assert strategy["last_run"]["trigger"] == "schedule"
    assert strategy["market"] == scripted.market_id
    assert strategy["market_label"] == f"{scripted.market.exchange.name}:{scripted.market.symbol}"
