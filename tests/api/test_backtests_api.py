"""Backtests through the API: create (of a strategy or from scratch), progress, cancel,
results, trades and fills paged, a paper strategy from a finished one; only your own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strategies.backtesting.models import Backtest
from strategies.backtesting.running import backtest_execute
from strategies.models import Strategy
from tests.api.helpers import client_for
from tests.factories import MarketFactory, StrategyFactory
from tests.strategies.backtesting.series import walk_closes
from tests.strategies.helpers import add_candles

pytestmark = pytest.mark.django_db
ENDED = datetime(2025, 3, 1, tzinfo=UTC)
PERIOD = {"start": (ENDED - timedelta(hours=600)).isoformat(), "end": ENDED.isoformat()}


@pytest.fixture
def market():
    market = MarketFactory()
    add_candles(market, walk_closes(700, seed=5), timeframe="1h", ended_at=ENDED)
    return market


def test_a_backtest_of_a_strategy_is_created_run_and_read_with_its_trades(api, user, market):
    strategy = StrategyFactory(owner=user, market=market, timeframe="1h", kind="sma_crossover",
                               parameters={"fast": 2, "slow": 5})  # fmt: skip

    created = api.post("/api/backtests/", {"strategy": strategy.pk, "backfill": False, **PERIOD},
                       format="json")  # fmt: skip
    backtest_execute(backtest_id=created.json()["id"])  # what the `backtests` worker does
    read = api.get(f"/api/backtests/{created.json()['id']}/").json()
    first = api.get(f"/api/backtests/{read['id']}/trades/?page_size=3").json()
    second = api.get(first["next"]).json()
    fills = api.get(f"/api/backtests/{read['id']}/fills/?page_size=5000").json()

    assert created.status_code == 201, created.json()
    assert (created.json()["status"], created.json()["kind"]) == ("pending", "sma_crossover")
    assert created.json()["parameters"] == {"fast": 2, "slow": 5}
    assert (read["status"], read["progress_pct"]) == ("succeeded", 100)
    assert read["figures"]["trades"] > 3
    assert len(read["trades_hash"]) == 64
    assert len(first["results"]) == 3
    assert first["results"][0]["entry_time"] <= second["results"][0]["entry_time"]
    assert len(fills["results"]) == read["figures"]["orders"]


def test_a_finished_backtest_becomes_a_paper_strategy_and_a_pending_one_does_not(api, user, market):
    body = {"market": market.pk, "kind": "rsi_thresholds", "timeframe": "1h",
            "parameters": {"period": 4}, "backfill": False, **PERIOD}  # fmt: skip
    pending = api.post("/api/backtests/", body, format="json").json()
    done = api.post("/api/backtests/", body, format="json").json()
    backtest_execute(backtest_id=done["id"])

    refused = api.post(
        f"/api/backtests/{pending['id']}/to-strategy/", {"name": "early"}, format="json"
    )
    made = api.post(
        f"/api/backtests/{done['id']}/to-strategy/", {"name": "From backtest"}, format="json"
    )

    assert refused.status_code == 409
    assert made.status_code == 201, made.json()
    strategy = Strategy.objects.get(pk=made.json()["id"])
    assert strategy.from_backtest_id == done["id"]
    assert (strategy.mode, strategy.is_active, strategy.parameters["period"]) == ("paper", False, 4)


def test_cancel_stops_a_pending_backtest_and_bad_input_is_400_by_field(api, market):
    bad = api.post("/api/backtests/", {"market": market.pk, "kind": "sma_crossover",
                   "parameters": {"fast": 9, "slow": 3}, "start": PERIOD["end"],
                   "end": PERIOD["start"]}, format="json")  # fmt: skip
    pending = api.post("/api/backtests/", {"market": market.pk, "kind": "dca", **PERIOD},
                       format="json").json()  # fmt: skip

    cancelled = api.post(f"/api/backtests/{pending['id']}/cancel/").json()

    assert bad.status_code == 400
    assert set(bad.json()) >= {"parameters", "end"}
    assert cancelled["status"] == "cancelled"
    assert backtest_execute(backtest_id=pending["id"]) == Backtest.Status.CANCELLED


def test_another_users_backtest_and_strategy_are_not_yours(api, other_user, market):
    theirs = (
        client_for(other_user)
        .post("/api/backtests/", {"market": market.pk, "kind": "dca", **PERIOD}, format="json")
        .json()
    )
    their_strategy = StrategyFactory(owner=other_user, market=market)

    assert api.get(f"/api/backtests/{theirs['id']}/").status_code == 404
    assert api.get("/api/backtests/").json()["results"] == []
    refused = api.post("/api/backtests/", {"strategy": their_strategy.pk, **PERIOD}, format="json")
    assert refused.status_code == 400
    assert "strategy" in refused.json()


def test_a_period_of_more_ticks_than_a_backtest_replays_is_refused(api, market):
    body = {"market": market.pk, "kind": "dca", "timeframe": "1m",
            "start": "2000-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z"}  # fmt: skip

    refused = api.post("/api/backtests/", body, format="json")
    hourly = api.post("/api/backtests/", {**body, "timeframe": "1h"}, format="json")

    assert refused.status_code == 400
    assert "ticks" in refused.json()["end"][0]
    assert hourly.status_code == 201  # 175,000 hourly ticks
