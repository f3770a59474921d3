"""The backtest engine: a strategy's live path replayed over candles, pure (no database).

`backtest_run(spec, candles)` walks the trigger's ticks; at each it hands `decide()` (through
the engine's safety wrapper) exactly the candles a live run at that tick reads, sizes and
guards the order and fills it on paper through `strategies.ordering`, the one order
computation live and paper runs use. Built-in kinds may take the fast path
(`strategies.backtesting.signals`), proven equal to `decide()` at every tick.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from project.kernel.scheduling import Trigger
from strategies.backtesting import figures, fingerprint, signals
from strategies.backtesting.candles import Candles
from strategies.backtesting.grid import closed_counts, tick_grid, tick_time
from strategies.backtesting.replay import Replay, tradable_ticks
from strategies.engine import get_strategy_class
from strategies.engine.base import parameters_to_json
from strategies.engine.safety import strategy_build, strategy_candles_required
from strategies.job import job_trigger
from strategies.ordering import MarketRules
from strategies.trades import Fill, Trade, round_trips

# What a backtest's progress callback receives, about every 1% of its ticks: (candles done,
# candles in all), counted as the replay reads them: the closed candles of the tick it has
# reached (its warm-up included), of those its last tick reads. It may raise to stop the
# backtest (a cancellation).
Progress = Callable[[int, int], None]
DEFAULT_RULES = MarketRules.from_ccxt(
    {"symbol": "BASE/QUOTE", "base": "BASE", "quote": "QUOTE"}, precision_mode=4
)


@dataclass(frozen=True)
class BacktestSpec:
    """What to replay: a strategy kind and parameters on a timeframe, its trigger, a period
    [start, end), the paper account it starts with and the market's order rules.

    `trigger` None runs once per candle, as a strategy with no interval or crontab does.
    """

    kind: str
    parameters: Mapping[str, Any]
    timeframe: str
    start: datetime
    end: datetime
    trigger: Trigger | None = None
    capital: Decimal = Decimal(10_000)
    fee_rate: Decimal = Decimal("0.001")
    max_position: Decimal | None = None
    max_orders_per_day: int | None = None
    rules: MarketRules = DEFAULT_RULES
    fast: bool = True  # the built-in kinds' vectorised signals, where they have one

    @property
    def tick_trigger(self) -> Trigger:
        if self.trigger is not None:
            return self.trigger
        return job_trigger(
            crontab="", crontab_timezone="UTC", interval_seconds=None, timeframe=self.timeframe
        )


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest did: its fills, round trips, equity curve, figures and fingerprint."""

    parameters: dict[str, Any]  # cleaned, as JSON values
    fills: list[Fill]
    trades: list[Trade]
    figures: dict[str, float | int | None]
    equity: list[tuple[datetime, float]]  # at most EQUITY_POINTS points, first and last kept
    trades_hash: str
    code_version: str
    ticks: int
    decided: int  # ticks with enough fresh candles to decide on
    candles: int  # closed candles the replay read: those its last tick reads, warm-up included
    refusals: dict[str, int] = field(default_factory=dict)  # why signals placed no order


def candles_required(spec: BacktestSpec) -> int:
    """How many closed candles each tick of `spec` reads: what to load before its start."""
    cls = get_strategy_class(spec.kind)
    return strategy_candles_required(strategy_build(cls, cls.clean_parameters(spec.parameters)))


def backtest_run(
    spec: BacktestSpec, candles: Candles, *, progress: Progress | None = None
) -> BacktestResult:
    """Replay `spec` over `candles` (loaded once, reusable); raises InvalidParameters for bad
    parameters and StrategyCodeFailed when the strategy's own code fails."""
    with cycles_uncollected():
        return _backtest_run(spec, candles, progress=progress)


@contextlib.contextmanager
def cycles_uncollected() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the run, as it was before afterwards.

    A year's replay makes a fill, a book and a lot per order and keeps them: every few hundred
    of them start a collection that walks the live objects, candles included, which took
    about 40% of a fill-per-candle run. What the engine makes holds no cycles (decimals,
    tuples, datetimes): reference counting frees it. The cycles a user's `decide()` leaves
    behind are collected every 1% of the ticks (the replay collects the youngest generation,
    what those ticks made), so memory stays bounded.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _backtest_run(
    spec: BacktestSpec, candles: Candles, *, progress: Progress | None
) -> BacktestResult:
    cls = get_strategy_class(spec.kind)
    cleaned = cls.clean_parameters(spec.parameters)
    instance = strategy_build(cls, cleaned)
    needed = strategy_candles_required(instance)
    ticks = tick_grid(spec.tick_trigger, start=spec.start, end=spec.end)
    counts = closed_counts(candles, ticks)
    usable, tradable = tradable_ticks(candles, ticks, counts, needed=needed)
    fast = signals.fast_signals(instance, candles, counts) if spec.fast else None
    replay = Replay(spec=spec, candles=candles, instance=instance, needed=needed)
    replay.run(ticks, counts, usable, tradable, fast=fast, progress=progress)
    last = candles.bars[-1].close if len(candles) else None
    as_of = tick_time(ticks[-1]) if len(ticks) else spec.end
    trades = round_trips(replay.fills, last_price=last, as_of=as_of)
    curve = figures.equity_curve(replay, candles, ticks, counts)
    parameters, code = parameters_to_json(cleaned), fingerprint.code_version(cls)
    return BacktestResult(
        parameters=parameters,
        fills=replay.fills,
        trades=trades,
        figures=figures.figures_of(spec, curve, trades, replay.fills),
        equity=figures.equity_points(curve),
        trades_hash=fingerprint.trades_hash(replay.fills, code=code, parameters=parameters),
        code_version=code,
        ticks=len(ticks),
        decided=int(usable.sum()),
        candles=int(counts[-1]) if len(counts) else 0,
        refusals=dict(replay.refusals),
    )
