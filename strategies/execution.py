"""One tick of a strategy: claim its run, decide, apply the guardrails, place the order.

The run is claimed once per (strategy, tick) with its lease (`strategies.runs`); the order is
sent once per client order id (`strategies.orders`). A live order is committed before it is
sent; a resumed run reuses its order and never decides again. A paper order, its fill, the
position and the run's end commit in one transaction: a worker lost before that commit left
nothing behind, and the redelivery decides afresh.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from marketdata.models import TIMEFRAME_DURATIONS
from strategies import selectors
from strategies.candle_rules import candles_enough, candles_fresh, price_fresh
from strategies.engine import Action, Bar, Signal, get_strategy_class
from strategies.engine.base import parameters_to_json
from strategies.engine.safety import strategy_build, strategy_candles_required, strategy_decide
from strategies.errors import OrderNotSent, StrategyError, error_fields
from strategies.live_orders import Sent
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.ordering import MarketRules, OrderTerms, Refusal, guardrail_refusal, order_terms
from strategies.orders import client_order_id, order_send, paper_order_fill_ending_run
from strategies.runs import RUNNING, lease_release, run_claim, run_end, run_finish, run_skip

logger = logging.getLogger(__name__)

# How often a run looks again for the candle that closed at its tick while it waits for it.
CANDLE_POLL_SECONDS = 0.2


class HasBars(Protocol):
    bars: list[Bar]


Inputs = TypeVar("Inputs", bound=HasBars)


def strategy_execute(
    *,
    strategy_id: int,
    scheduled_tick: datetime | None = None,
    task_id: str = "",
    trigger: str = StrategyRun.Trigger.SCHEDULE,
    wait: bool = False,
) -> StrategyRun | None:
    """Run the strategy for its tick (the trigger's tick now, unless given) at most once.

    `trigger` says what fired it (StrategyRun.Trigger), recorded on the run. With `wait`, a
    tick that finds another run of the strategy in progress raises RunInProgress, for its task
    to try again: ticks run one at a time and in order (without, it is recorded skipped).

    Returns the run it recorded or completed, or None when this delivery had nothing to do
    (the tick's run exists: a duplicate delivery or a second beat). Failures of the strategy,
    its parameters or its market data are recorded on the run, never raised.
    Raises Strategy.DoesNotExist for an unknown id.
    """
    now = timezone.now()
    claimed = run_claim(
        strategy_id=strategy_id,
        scheduled_tick=scheduled_tick,
        task_id=task_id,
        trigger=StrategyRun.Trigger(trigger),
        now=now,
        wait=wait,
    )
    if claimed is None:
        return None
    run, resumed = claimed
    if run.status != RUNNING:
        return run
    try:
        _run_carry_out(run=run, resumed=resumed)
    finally:
        lease_release(run)
    return run


def _run_carry_out(*, run: StrategyRun, resumed: bool) -> None:
    """Decide and place the order of a claimed run, and record how it ended."""
    with run_failures_recorded(run):
        order = run_order_pending(run=run, resumed=resumed)
        if order is not None:
            order_complete(run=run, order=order)


@contextlib.contextmanager
def run_failures_recorded(run: StrategyRun) -> Iterator[None]:
    """The run fails with what went wrong inside: the strategy's code, its parameters or its
    order (recorded, not raised); a fault of ours or of the database is recorded if it still
    can be, and raised for Celery to see."""
    try:
        yield
    except StrategyError as error:
        run_finish(run, StrategyRun.Status.FAILED, **error_fields(error))
    except Exception as error:
        logger.exception("run %s of strategy %s failed", run.pk, run.strategy_id)
        with contextlib.suppress(DatabaseError):
            run_finish(run, StrategyRun.Status.FAILED, **error_fields(error))
        raise


def run_order_pending(*, run: StrategyRun, resumed: bool) -> Order | None:
    """The order the claimed run has still to complete: a resumed run's own (it never decides
    again), or the live order its decision wrote, committed before it leaves; None when the
    run ended here (a hold, a skip, a paper fill)."""
    order = run.orders.first() if resumed else None
    if order is not None:
        return order
    return _run_decide_and_order(run=run)


def _run_decide_and_order(*, run: StrategyRun) -> Order | None:
    """Decide afresh; fill a paper order, or write the live order the decision asks for."""
    strategy = run.strategy
    plan = _run_decide(run=run, strategy=strategy)
    if plan is None:
        return None
    local = strategy.mode == Strategy.Mode.PAPER
    order = Order(
        strategy=strategy,
        run=run,
        mode=strategy.mode,
        side=plan.terms.side,
        type=Order.Type.MARKET,
        amount=plan.terms.amount,
        # A paper order fills at the price it was sized at.
        price=plan.terms.price if local else None,
        client_order_id=client_order_id(strategy_id=strategy.pk, tick=run.scheduled_tick),
    )
    if not local:
        order.save()  # committed before it leaves
        return order
    # A paper fill touches only our database: the order is written filled, with the position
    # and the run's end, in one statement; if the position has moved since the run read it
    # (or cannot take the order), in one transaction with the position locked.
    ended = run_end(run, StrategyRun.Status.SUCCEEDED, signal=order.side)
    if not paper_order_fill_ending_run(order, position=plan.paper_position, run=run, ended=ended):
        run.status = RUNNING  # not ended after all: `order_complete` ends it
        with transaction.atomic():
            order_complete(run=run, order=order)
    return None


def order_complete(*, run: StrategyRun, order: Order, sent: Sent | None = None) -> None:
    """Send the order if it has not been, and end the run by the order's outcome.

    `sent` is how its sending already went, where a batch sent its runs' live orders together
    (`live_orders.live_orders_send`); an OrderUnconfirmed is raised, as `order_send` raises it.
    """
    error_class = "OrderNotSent"
    if order.status == Order.Status.NEW:
        try:
            if isinstance(sent, Exception):
                raise sent
            order = order_send(order) if sent is None else sent
        except OrderNotSent as error:
            error_class = type(error).__name__
            order.status = Order.Status.REJECTED
            order.error_message = str(error)
            if order.pk is None:
                order.save()
            else:
                order.save(update_fields=["status", "error_message", "updated_at"])
    if order.status == Order.Status.REJECTED:
        run_finish(
            run,
            StrategyRun.Status.FAILED,
            signal=order.side,
            error_class=error_class,
            error_message=order.error_message,
        )
    else:
        run_finish(run, StrategyRun.Status.SUCCEEDED, signal=order.side)


@dataclass(frozen=True)
class OrderPlan:
    terms: OrderTerms  # at the market's precision; the price is the one it was sized at
    paper_position: PaperPosition  # as the run read it (paper strategies)


def _run_decide(*, run: StrategyRun, strategy: Strategy) -> OrderPlan | None:
    """The order this run places, or None when the run ended here (hold, skip)."""
    cls = get_strategy_class(strategy.kind)
    cleaned = cls.clean_parameters(strategy.parameters)
    run.parameters = parameters_to_json(cleaned)
    instance = strategy_build(cls, cleaned)
    needed = strategy_candles_required(instance)
    inputs = inputs_with_tick_candle(
        lambda now: selectors.run_inputs(
            strategy=strategy, candles_required=needed, tick=run.scheduled_tick, now=now
        ),
        tick=run.scheduled_tick,
        timeframe=strategy.timeframe,
    )
    problem = market_data_problem(
        inputs.bars, needed=needed, timeframe=strategy.timeframe, now=timezone.now()
    )
    if problem:
        return run_skip(run, problem)

    signal = strategy_decide(instance, inputs.bars)
    run.signal = signal.action.value
    if signal.action is Action.HOLD:
        run_finish(run, StrategyRun.Status.SUCCEEDED, signal=run.signal)
        return None
    plan = order_plan_of(run=run, strategy=strategy, signal=signal, inputs=inputs)
    if isinstance(plan, str):
        return run_skip(run, plan)
    return plan


def market_data_problem(bars: list[Bar], *, needed: int, timeframe: str, now: datetime) -> str:
    """Why a run cannot decide on these closed candles ("" when it can): none, stale, too few.

    A batch of runs (`strategies.batch`) asks the same of the candles it read once."""
    duration = TIMEFRAME_DURATIONS[timeframe]
    if not bars:
        return "stale market data: no closed candles"
    newest_closed_at = bars[-1].open_time + duration
    if not candles_fresh(now - newest_closed_at, duration):
        ended = newest_closed_at.isoformat()
        return f"stale market data: the newest closed candle ended at {ended}"
    if not candles_enough(len(bars), needed):
        return f"not enough market data: needs {needed} closed candles, has {len(bars)}"
    return ""


def inputs_with_tick_candle(
    read: Callable[[datetime], Inputs], *, tick: datetime, timeframe: str
) -> Inputs:
    """Inputs (`read(now)`: a run's, or a batch's series) once they hold the candle that
    closed at the tick.

    `collect_due_candles` fires at the same instant as the run and writes that candle a
    moment later: until RUN_CANDLE_WAIT_SECONDS after the close the inputs are read again
    every CANDLE_POLL_SECONDS; after that (a late run, a collection that failed) they are
    taken as they are, and the staleness rules judge them.
    """
    due = selectors.newest_closed_open(tick=tick, timeframe=timeframe)
    closed_at = due + TIMEFRAME_DURATIONS[timeframe]
    give_up_at = closed_at + timedelta(seconds=settings.RUN_CANDLE_WAIT_SECONDS)
    while True:
        now = timezone.now()
        inputs = read(now)
        bars = inputs.bars
        if (bars and bars[-1].open_time >= due) or now >= give_up_at:
            return inputs
        time.sleep(CANDLE_POLL_SECONDS)


def order_plan_of(
    *,
    run: StrategyRun,
    strategy: Strategy,
    signal: Signal,
    inputs: selectors.RunInputs,
) -> OrderPlan | str:
    """Size the order and apply the guardrails: the plan, or why the run is skipped.

    Writes nothing: a single run and a batch of runs (`strategies.batch`) both decide by it."""
    if settings.TRADING_KILL_SWITCH:
        return "kill switch is on: no orders are placed"
    if inputs.price is None:
        return "no price to size the order with"
    stale = _paper_price_stale(strategy, price=inputs.price, tick=run.scheduled_tick)
    if stale:
        return stale
    held = _held(strategy, signal=signal, inputs=inputs)
    rules = MarketRules.from_market(strategy.market)
    terms = order_terms(rules, signal, price=inputs.price.value, held=held)
    if isinstance(terms, Refusal):
        return terms.reason
    refusal = guardrail_refusal(
        side=terms.side,
        amount=terms.amount,
        held=held,
        max_position=strategy.max_position,
        orders_today=inputs.orders_today,
        max_orders_per_day=strategy.max_orders_per_day,
    )
    if refusal is not None:
        return refusal.reason
    return OrderPlan(terms, inputs.paper_position)


def _held(strategy: Strategy, *, signal: Signal, inputs: selectors.RunInputs) -> Decimal | None:
    """The base amount the strategy holds, read only when a sell or `max_position` needs it."""
    if signal.action is not Action.SELL and strategy.max_position is None:
        return None
    if strategy.mode == Strategy.Mode.PAPER:
        return inputs.paper_position.base_amount
    return selectors.strategy_position(strategy=strategy)


def _paper_price_stale(strategy: Strategy, *, price: selectors.Price, tick: datetime) -> str:
    """Why a paper order may not fill at `price` ("" if it may): `candle_rules.price_fresh`."""
    timeframe = TIMEFRAME_DURATIONS[strategy.timeframe]
    if strategy.mode != Strategy.Mode.PAPER or price_fresh(tick - price.at, timeframe):
        return ""
    return (
        f"stale price: the newest price ({price.source}) is from {price.at.isoformat()}, "
        f"older than one timeframe ({strategy.timeframe})"
    )
