"""series_execute against the real database: each strategy of a batch gets its own run, order
and position, as a single run would; a raising one fails alone; a delivery again runs only
what is missing; the batch's statements do not grow with its strategies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from marketdata.models import Market
from strategies import batch
from strategies.batch import series_execute
from strategies.batch.decide import Outcome
from strategies.batch.write import PaperFills, paper_fills_write
from strategies.execution import strategy_execute
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.orders import client_order_id
from tests.factories import MarketFactory, StrategyFactory
from tests.strategies.helpers import add_candles, tick

pytestmark = pytest.mark.django_db

Status = StrategyRun.Status
TASK_ID = "series_test:BTC/USD_1h@2026-12-01T12:00:00Z"


@pytest.fixture
def market() -> Market:
    market = MarketFactory()
    add_candles(market, [190, 200])
    return market


def dcas(market: Market, count: int, **fields: object) -> list[Strategy]:
    fields.setdefault("parameters", {"quote_amount": "100"})
    return [StrategyFactory(market=market, kind="dca", **fields) for _ in range(count)]


def run_batch(strategies: list[Strategy], task_id: str = TASK_ID, hours_ago: int = 0) -> object:
    return series_execute(
        strategy_ids=[s.pk for s in strategies],
        scheduled_tick=tick(hours_ago),
        task_id=task_id,
        trigger="schedule",
    )


def test_each_strategy_of_a_batch_fills_its_own_order_as_a_single_run_does(
    market: Market, settings: object
) -> None:
    settings.PAPER_FEE_RATE = Decimal("0.01")
    batched = dcas(market, 3)
    single = dcas(market, 1)[0]

    report = run_batch(batched)
    strategy_execute(strategy_id=single.pk, scheduled_tick=tick())

    assert sorted(report.batched) == sorted(s.pk for s in batched)
    reference = Order.objects.get(strategy=single)
    reference_position = PaperPosition.objects.get(strategy=single)
    for strategy in batched:
        run = StrategyRun.objects.get(strategy=strategy)
        assert (run.status, run.signal, run.celery_task_id) == (Status.SUCCEEDED, "buy", TASK_ID)
        assert run.parameters == {"quote_amount": "100"}
        order = Order.objects.get(strategy=strategy)
        assert order.run_id == run.pk
        assert order.client_order_id == client_order_id(strategy_id=strategy.pk, tick=tick())
        fields = ("status", "amount", "price", "average_price", "filled_amount", "fee")
        assert [getattr(order, f) for f in fields] == [getattr(reference, f) for f in fields]
        position = PaperPosition.objects.get(strategy=strategy)
        amounts = ("base_amount", "quote_balance", "average_entry_price", "fees_paid")
        assert [getattr(position, f) for f in amounts] == [
            getattr(reference_position, f) for f in amounts
        ]


def test_a_strategy_that_raises_fails_alone_and_the_others_fill(market: Market) -> None:
    good = dcas(market, 2)
    bad = StrategyFactory(market=market, kind="test_raising")

    run_batch([good[0], bad, good[1]])

    failed = StrategyRun.objects.get(strategy=bad)
    assert failed.status == Status.FAILED
    assert failed.error_class == "tests.strategies.plugins.StrategyBug"
    assert failed.error_message == "cannot handle 1 candles"
    assert not Order.objects.filter(strategy=bad).exists()
    for strategy in good:
        assert StrategyRun.objects.get(strategy=strategy).status == Status.SUCCEEDED
        assert Order.objects.filter(strategy=strategy, status=Order.Status.FILLED).count() == 1


def test_holds_skips_and_bad_parameters_end_with_their_reasons(
    market: Market, settings: object
) -> None:
    hold = StrategyFactory(market=market, kind="test_fixed", parameters={"action": "hold"})
    sell = StrategyFactory(market=market, kind="test_fixed", parameters={"action": "sell"})
    broken = StrategyFactory(market=market, kind="dca")
    Strategy.objects.filter(pk=broken.pk).update(parameters={"quote_amount": "-1"})

    run_batch([hold, sell, broken])

    runs = {run.strategy_id: run for run in StrategyRun.objects.all()}
    assert (runs[hold.pk].status, runs[hold.pk].signal) == (Status.SUCCEEDED, "hold")
    assert (runs[sell.pk].status, runs[sell.pk].signal) == (Status.SKIPPED, "sell")
    assert runs[sell.pk].reason == "nothing to sell: the position is empty"
    assert (runs[broken.pk].status, runs[broken.pk].error_class) == (
        Status.FAILED,
        "InvalidParameters",
    )
    assert not Order.objects.exists()


def test_the_kill_switch_and_stale_candles_skip_every_run_of_a_batch(
    market: Market, settings: object
) -> None:
    settings.TRADING_KILL_SWITCH = True
    strategies = dcas(market, 2)
    stale = MarketFactory()
    add_candles(stale, [100], ended_at=tick(5))
    old = dcas(stale, 1)

    run_batch([*strategies, *old])

    for strategy in strategies:
        run = StrategyRun.objects.get(strategy=strategy)
        assert (run.status, run.reason) == (
            Status.SKIPPED,
            "kill switch is on: no orders are placed",
        )
    assert StrategyRun.objects.get(strategy=old[0]).reason.startswith("stale market data")
    assert not Order.objects.exists()


def test_a_stopped_strategy_records_nothing(market: Market) -> None:
    active, stopped = dcas(market, 2)
    Strategy.objects.filter(pk=stopped.pk).update(is_active=False)

    report = run_batch([active, stopped])

    assert report.idle == [stopped.pk]
    assert not StrategyRun.objects.filter(strategy=stopped).exists()
    assert StrategyRun.objects.filter(strategy=active).count() == 1


@pytest.mark.django_db(transaction=True)  # the single runs use sessions of their own threads
def test_a_delivery_again_runs_only_what_is_missing(market: Market) -> None:
    done, resumed, missing = dcas(market, 3)
    run_batch([done])
    # A run its lost worker left running (no lease held): the same message's delivery resumes it.
    lost = StrategyRun.objects.create(
        strategy=resumed, scheduled_tick=tick(), status=Status.RUNNING, celery_task_id=TASK_ID
    )

    report = run_batch([done, resumed, missing])

    assert report.batched == [missing.pk]
    assert report.single == [resumed.pk]
    assert report.idle == [done.pk]
    for strategy in (done, resumed, missing):
        assert StrategyRun.objects.filter(strategy=strategy).count() == 1
        assert Order.objects.filter(strategy=strategy).count() == 1
    lost.refresh_from_db()
    assert lost.status == Status.SUCCEEDED


def test_a_position_changed_since_it_was_read_is_filled_locked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flat = MarketFactory()
    add_candles(flat, [200, 200])
    strategy = dcas(flat, 1)[0]
    run_batch([strategy], hours_ago=1)

    def moved_first(outcomes: list[Outcome], *, now: datetime) -> PaperFills:
        # Another writer (an owner's reset) moves the position after the batch read it.
        PaperPosition.objects.filter(strategy=strategy).update(fees_paid=Decimal(7))
        return paper_fills_write(outcomes, now=now)

    monkeypatch.setattr(batch, "paper_fills_write", moved_first)
    run_batch([strategy])

    run = StrategyRun.objects.get(strategy=strategy, scheduled_tick=tick())
    assert run.status == Status.SUCCEEDED
    position = PaperPosition.objects.get(strategy=strategy)
    assert position.base_amount == Decimal(1)  # two buys of 0.5
    assert position.fees_paid == Decimal("7.1")
    assert Order.objects.filter(strategy=strategy).count() == 2


def test_a_batch_costs_the_same_statements_for_three_strategies_as_for_thirty(
    market: Market,
) -> None:
    few, many = dcas(market, 3), dcas(market, 30)

    with CaptureQueriesContext(connection) as small:
        run_batch(few)
    with CaptureQueriesContext(connection) as large:
        run_batch(many, task_id="other")

    assert len(large) == len(small)
    assert len(small) <= 7
    assert Order.objects.count() == 33


@pytest.mark.usefixtures("plain_static_files")
def test_each_run_links_to_the_runs_of_its_unit_of_work_in_the_admin(
    market: Market, admin_client: Client
) -> None:
    together = dcas(market, 2)
    apart = dcas(market, 1)[0]
    run_batch(together)
    run_batch([apart], task_id="series_other@2026-12-01T12:00:00Z")

    listed = admin_client.get("/admin/strategies/strategyrun/").content.decode()
    unit = admin_client.get("/admin/strategies/strategyrun/", {"celery_task_id": TASK_ID})

    assert f'?celery_task_id={TASK_ID}">{TASK_ID}</a>' in listed
    shown = unit.content.decode()
    change = "/admin/strategies/strategyrun/{}/change/"
    assert unit.status_code == 200
    for strategy in together:
        assert change.format(StrategyRun.objects.get(strategy=strategy).pk) in shown
    assert change.format(StrategyRun.objects.get(strategy=apart).pk) not in shown
