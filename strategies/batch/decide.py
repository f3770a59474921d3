"""Every decision of a batch in memory: each strategy's outcome, by the rules a single run
follows (`strategies.execution`), nothing written.

A strategy whose code raises (building, counting its candles, deciding) fails alone, through
the engine's safety wrapper, as it would in a run of its own; so do bad parameters. A fault
of ours in one strategy's decision (not its code's) fails that run with the error, logged,
and the others go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from strategies.engine import Action, BaseStrategy, get_strategy_class
from strategies.engine.base import parameters_to_json
from strategies.engine.safety import strategy_build, strategy_candles_required, strategy_decide
from strategies.errors import StrategyError, error_fields
from strategies.execution import OrderPlan, market_data_problem, order_plan_of
from strategies.models import StrategyRun
from strategies.selectors import RunInputs

logger = logging.getLogger(__name__)

SUCCEEDED = StrategyRun.Status.SUCCEEDED.value
SKIPPED = StrategyRun.Status.SKIPPED.value
FAILED = StrategyRun.Status.FAILED.value


@dataclass
class Outcome:
    """How one run of the batch ends, or the paper order it places (`plan`)."""

    run: StrategyRun
    status: str = SUCCEEDED
    signal: str = ""
    reason: str = ""
    error_class: str = ""
    error_message: str = ""
    plan: OrderPlan | None = None


@dataclass(frozen=True)
class Prepared:
    """A run whose strategy is built and knows how many candles it needs."""

    run: StrategyRun
    instance: BaseStrategy
    needed: int


def run_prepare(run: StrategyRun) -> Prepared | Outcome:
    """Clean the parameters and build the strategy (the run keeps the cleaned snapshot)."""
    try:
        cls = get_strategy_class(run.strategy.kind)
        cleaned = cls.clean_parameters(run.strategy.parameters)
        run.parameters = parameters_to_json(cleaned)
        instance = strategy_build(cls, cleaned)
        return Prepared(run, instance, strategy_candles_required(instance))
    except Exception as error:
        return _failed(run, error)


def run_decide(prepared: Prepared, inputs: RunInputs, *, now: datetime) -> Outcome:
    """The outcome of one prepared run on its inputs: skipped, held, failed or an order."""
    run = prepared.run
    try:
        problem = market_data_problem(
            inputs.bars, needed=prepared.needed, timeframe=run.strategy.timeframe, now=now
        )
        if problem:
            return Outcome(run, SKIPPED, reason=problem)
        signal = strategy_decide(prepared.instance, inputs.bars)
        run.signal = signal.action.value
        if signal.action is Action.HOLD:
            return Outcome(run, SUCCEEDED, signal=run.signal)
        plan = order_plan_of(run=run, strategy=run.strategy, signal=signal, inputs=inputs)
        if isinstance(plan, str):
            return Outcome(run, SKIPPED, signal=run.signal, reason=plan)
        return Outcome(run, SUCCEEDED, signal=run.signal, plan=plan)
    except Exception as error:
        return _failed(run, error)


def _failed(run: StrategyRun, error: Exception) -> Outcome:
    """The run fails with the error, recorded as a single run records it (no signal)."""
    if not isinstance(error, StrategyError):
        logger.exception("run %s of strategy %s failed", run.pk, run.strategy_id)
    return Outcome(run, FAILED, **error_fields(error))
