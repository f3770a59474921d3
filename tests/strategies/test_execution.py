"""strategy_execute against the real database: one run per tick, skips with reasons, failures
recorded, guardrails, paper fills and positions, and resuming a run its worker lost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from marketdata.models import Market, Ticker
from project.kernel.locks import LockPurpose, lock_key
from strategies import runs
from strategies.execution import strategy_execute
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.orders import client_order_id
from tests.factories import ExchangeAccountFactory, MarketFactory, StrategyFactory
from tests.processes import database_url
from tests.strategies.helpers import add_candles, tick

pytestmark = pytest.mark.django_db

Status = StrategyRun.Status


@pytest.fixture
def market() -> Market:
    return MarketFactory()


def dca(market: Market, **fields: object) -> Strategy:
    fields.setdefault("parameters", {"quote_amount": "100"})
    return StrategyFactory(market=market, kind="dca", **fields)


def test_a_paper_buy_fills_at_the_last_close_with_the_fee(market: Market, settings: object) -> None:
    settings.PAPER_FEE_RATE = Decimal("0.01")
    add_candles(market, [190, 200])
    strategy = dca(market)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run is not None
    assert run.status == Status.SUCCEEDED
    assert run.signal == "buy"
    assert run.parameters == {"quote_amount": "100"}
    order = Order.objects.get(run=run)
    assert order.status == Order.Status.FILLED
    assert order.amount == Decimal("0.5")
    assert order.average_price == Decimal(200)
    assert order.fee == Decimal(1)
    assert order.client_order_id == client_order_id(strategy_id=strategy.pk, tick=tick())
    position = PaperPosition.objects.get(strategy=strategy)
    assert position.base_amount == Decimal("0.5")
    assert position.quote_balance == Decimal(10_000 - 100 - 1)
    assert position.average_entry_price == Decimal(200)
    assert position.fees_paid == Decimal(1)


def test_a_stopped_strategy_records_no_run_and_places_no_order(market: Market) -> None:
    add_candles(market, [190, 200])
    strategy = dca(market, is_active=False)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run is None
    assert not StrategyRun.objects.filter(strategy=strategy).exists()
    assert not Order.objects.filter(strategy=strategy).exists()


def test_the_fill_is_the_close_of_the_candle_closed_at_the_tick_not_a_newer_ticker(
    market: Market,
) -> None:
    add_candles(market, [190, 200])  # the newer closed at the tick
    add_candles(market, [300], ended_at=tick() + timedelta(hours=1))  # closed after it
    Ticker.objects.create(market=market, time=timezone.now(), last=Decimal(250))
    strategy = dca(market)

    strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert Order.objects.get(strategy=strategy).average_price == Decimal(200)


def test_a_paper_fill_refuses_a_price_older_than_one_timeframe(market: Market) -> None:
    # Stale for the tick by a second, and fresh for the market data check (newer than two
    # timeframes before now) at any minute of the hour.
    closed_at = tick() - timedelta(hours=1, seconds=1)
    add_candles(market, [200], ended_at=closed_at)
    strategy = dca(market)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.SKIPPED
    assert run.reason == (
        f"stale price: the newest price (candle) is from {closed_at.isoformat()}, "
        "older than one timeframe (1h)"
    )
    assert not Order.objects.exists()


def test_a_sell_closes_the_paper_position_and_credits_the_quote(
    market: Market, settings: object
) -> None:
    settings.PAPER_FEE_RATE = Decimal("0.001")
    add_candles(market, [300])
    strategy = StrategyFactory(market=market, kind="test_fixed", parameters={"action": "sell"})
    PaperPosition.objects.create(
        strategy=strategy,
        base_amount=Decimal(2),
        quote_balance=Decimal(0),
        average_entry_price=Decimal(250),
    )

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.SUCCEEDED
    order = Order.objects.get(run=run)
    assert (order.side, order.amount, order.fee) == ("sell", Decimal(2), Decimal("0.6"))
    position = PaperPosition.objects.get(strategy=strategy)
    assert position.base_amount == 0
    assert position.quote_balance == Decimal("599.4")
    assert position.average_entry_price is None


def test_a_second_delivery_of_a_tick_records_nothing(market: Market) -> None:
    add_candles(market, [100])
    strategy = dca(market)
    first = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), task_id="a")

    second = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), task_id="b")

    assert first is not None
    assert second is None
    assert StrategyRun.objects.filter(strategy=strategy).count() == 1
    assert Order.objects.filter(strategy=strategy).count() == 1


@pytest.mark.parametrize("trigger", ["schedule", "run_now", "catch_up"])
def test_the_run_records_what_fired_it(market: Market, trigger: str) -> None:
    add_candles(market, [100])
    strategy = dca(market)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), trigger=trigger)

    assert StrategyRun.objects.get(pk=run.pk).trigger == trigger


def test_a_run_fired_by_its_schedule_says_so_by_default(market: Market) -> None:
    add_candles(market, [100])
    strategy = dca(market)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert StrategyRun.objects.get(pk=run.pk).trigger == StrategyRun.Trigger.SCHEDULE


def test_an_unknown_trigger_is_refused_before_anything_is_recorded(market: Market) -> None:
    strategy = dca(market)

    with pytest.raises(ValueError, match="bogus"):
        strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), trigger="bogus")

    assert not StrategyRun.objects.exists()


def test_without_a_tick_the_trigger_gives_the_current_one(market: Market) -> None:
    add_candles(market, [100])
    strategy = dca(market, interval_seconds=600)

    run = strategy_execute(strategy_id=strategy.pk)

    assert run.scheduled_tick == strategy.trigger.tick_at(timezone.now())
    assert run.scheduled_tick.minute % 10 == 0


def test_a_run_in_progress_makes_the_next_tick_skipped(market: Market) -> None:
    add_candles(market, [100])
    strategy = dca(market)
    running = StrategyRun.objects.create(
        strategy=strategy, scheduled_tick=tick(1), celery_task_id="x"
    )

    # Its process is alive: another session holds its lease.
    with psycopg.connect(database_url(), autocommit=True) as holder:
        holder.execute(
            "SELECT pg_advisory_lock(%s, %s)", lock_key(LockPurpose.RUN_LEASE, running.pk)
        )
        run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.SKIPPED
    assert run.reason == f"the run for tick {tick(1).isoformat()} is still in progress"
    assert not Order.objects.exists()


def test_a_run_left_running_past_any_redelivery_is_abandoned_not_blocking(
    market: Market,
) -> None:
    add_candles(market, [100])
    strategy = dca(market)
    stuck = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick(48))
    StrategyRun.objects.filter(pk=stuck.pk).update(started_at=timezone.now() - timedelta(days=1))

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    stuck.refresh_from_db()
    assert run.status == Status.SUCCEEDED
    assert stuck.status == Status.FAILED
    assert stuck.error_class == "Abandoned"


def test_stale_market_data_skips_the_run(market: Market) -> None:
    add_candles(market, [100, 101], ended_at=timezone.now() - timedelta(hours=2, minutes=1))
    strategy = dca(market)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.SKIPPED
    assert run.reason.startswith("stale market data: the newest closed candle ended at ")
    assert not Order.objects.exists()


def test_no_market_data_at_all_is_stale(market: Market) -> None:
    strategy = dca(market)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert (run.status, run.reason) == (Status.SKIPPED, "stale market data: no closed candles")


def test_too_few_candles_for_the_strategy_skip_the_run(market: Market) -> None:
    add_candles(market, [1, 2, 3])
    strategy = StrategyFactory(
        market=market, kind="sma_crossover", parameters={"fast": 2, "slow": 5}
    )

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.SKIPPED
    assert run.reason == "not enough market data: needs 6 closed candles, has 3"


def test_a_hold_succeeds_without_an_order(market: Market) -> None:
    add_candles(market, [1, 2, 3, 4, 5, 6])
    strategy = StrategyFactory(
        market=market, kind="sma_crossover", parameters={"fast": 2, "slow": 3}
    )

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert (run.status, run.signal) == (Status.SUCCEEDED, "hold")
    assert not Order.objects.exists()


def test_a_raising_strategy_is_recorded_as_failed(market: Market) -> None:
    add_candles(market, [100])
    strategy = StrategyFactory(market=market, kind="test_raising")

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.FAILED
    assert run.error_class == "tests.strategies.plugins.StrategyBug"
    assert run.error_message == "cannot handle 1 candles"
    assert run.finished_at is not None


def test_parameters_that_no_longer_validate_fail_the_run_with_the_field(market: Market) -> None:
    add_candles(market, [100])
    strategy = dca(market, parameters={"quote_amount": "-1"})

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.FAILED
    assert run.error_class == "InvalidParameters"
    assert run.error_message == "quote_amount: must be at least 0.00000001"


def test_the_kill_switch_turns_an_order_into_a_skipped_run(
    market: Market, settings: object
) -> None:
    settings.TRADING_KILL_SWITCH = True
    add_candles(market, [100])
    strategy = dca(market)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert (run.status, run.signal) == (Status.SKIPPED, "buy")
    assert run.reason == "kill switch is on: no orders are placed"
    assert not Order.objects.exists()
    assert not PaperPosition.objects.exists()


def test_max_orders_per_day_skips_the_next_order(market: Market) -> None:
    add_candles(market, [100, 100])
    strategy = dca(market, max_orders_per_day=2)
    for earlier in (tick(1), tick(1) + timedelta(minutes=30)):
        strategy_execute(strategy_id=strategy.pk, scheduled_tick=earlier)

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.SKIPPED
    assert run.reason == "max orders per day reached: 2 of 2"
    assert Order.objects.filter(strategy=strategy).count() == 2


def test_max_position_skips_a_buy_that_would_exceed_it(market: Market) -> None:
    add_candles(market, [100, 100])
    strategy = dca(market, max_position=Decimal("1.5"))
    strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(1))

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert run.status == Status.SKIPPED
    assert run.reason.startswith("max position 1.5")
    assert PaperPosition.objects.get(strategy=strategy).base_amount == 1


def test_a_paper_buy_beyond_the_balance_is_rejected(market: Market) -> None:
    add_candles(market, [100])
    strategy = dca(market, parameters={"quote_amount": "20000"})

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    order = Order.objects.get(strategy=strategy)
    assert run.status == Status.FAILED
    assert run.error_class == "OrderNotSent"
    assert order.status == Order.Status.REJECTED
    assert order.error_message.startswith("insufficient paper balance")
    assert not PaperPosition.objects.exists()  # the fill's transaction rolled back whole


def test_selling_with_no_position_is_skipped(market: Market) -> None:
    add_candles(market, [100])
    strategy = StrategyFactory(market=market, kind="test_fixed", parameters={"action": "sell"})

    run = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())

    assert (run.status, run.reason) == (Status.SKIPPED, "nothing to sell: the position is empty")


def test_a_redelivered_run_reuses_its_written_order_and_fills_it_once(market: Market) -> None:
    add_candles(market, [100])
    strategy = dca(market)
    # The worker died after writing the order and before sending it.
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick(), celery_task_id="t1")
    Order.objects.create(
        strategy=strategy,
        run=run,
        mode="paper",
        side="buy",
        amount=Decimal(3),
        client_order_id=client_order_id(strategy_id=strategy.pk, tick=tick()),
    )

    resumed = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), task_id="t1")
    again = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), task_id="t1")

    assert resumed.pk == run.pk
    assert resumed.status == Status.SUCCEEDED
    assert again is None
    order = Order.objects.get(strategy=strategy)
    assert (order.amount, order.status) == (Decimal(3), Order.Status.FILLED)
    assert PaperPosition.objects.get(strategy=strategy).base_amount == 3


def test_a_redelivered_run_whose_order_was_filled_does_not_fill_again(market: Market) -> None:
    add_candles(market, [100])
    strategy = dca(market)
    strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), task_id="t1")
    # The worker died after the fill and before the run was marked done.
    StrategyRun.objects.filter(strategy=strategy).update(status=Status.RUNNING, finished_at=None)

    resumed = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), task_id="t1")

    assert resumed.status == Status.SUCCEEDED
    assert Order.objects.filter(strategy=strategy).count() == 1
    assert PaperPosition.objects.get(strategy=strategy).base_amount == 1
    assert PaperPosition.objects.get(strategy=strategy).quote_balance == Decimal("9899.9")


def test_a_running_run_whose_lease_is_held_is_not_resumed(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "RESUME_WAIT_SECONDS", 0.2)
    add_candles(market, [100])
    strategy = dca(market)
    run = StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick(), celery_task_id="t1")

    # Another live process (its own connection) holds the run's lease.
    with psycopg.connect(database_url(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", lock_key(LockPurpose.RUN_LEASE, run.pk))
        result = strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick(), task_id="t1")

    run.refresh_from_db()
    assert result is None
    assert run.status == Status.RUNNING
    assert not Order.objects.exists()


def test_an_unknown_strategy_id_raises_does_not_exist() -> None:
    with pytest.raises(Strategy.DoesNotExist):
        strategy_execute(strategy_id=987654)


def test_clean_reports_bad_parameters_on_the_parameters_field(market: Market) -> None:
    strategy = StrategyFactory.build(
        owner=StrategyFactory().owner,
        market=market,
        kind="sma_crossover",
        parameters={"fast": 50, "slow": 20, "extra": 1},
    )

    with pytest.raises(ValidationError) as caught:
        strategy.full_clean()

    assert caught.value.message_dict["parameters"] == [
        "extra: unknown parameter (known: fast, quote_amount, slow)"
    ]


def test_clean_refuses_an_unregistered_kind(market: Market) -> None:
    strategy = StrategyFactory.build(
        owner=StrategyFactory().owner, market=market, kind="martingale"
    )

    with pytest.raises(ValidationError) as caught:
        strategy.full_clean()

    assert caught.value.message_dict["kind"] == ["Value 'martingale' is not a valid choice."]


def test_clean_refuses_an_account_on_another_exchange_than_the_market(market: Market) -> None:
    elsewhere = ExchangeAccountFactory()
    strategy = StrategyFactory.build(
        owner=elsewhere.owner, market=market, kind="dca", mode="live", account=elsewhere
    )

    with pytest.raises(ValidationError) as caught:
        strategy.full_clean()

    assert caught.value.message_dict["account"] == [
        f"must be an account on {market.exchange.name}, the market's exchange"
    ]


def test_the_database_refuses_two_running_runs_of_one_strategy(market: Market) -> None:
    strategy = dca(market)
    StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick(1))

    with pytest.raises(IntegrityError, match="run_one_running_per_strategy"):
        StrategyRun.objects.create(strategy=strategy, scheduled_tick=tick())
