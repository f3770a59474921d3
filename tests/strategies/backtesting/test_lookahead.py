"""No lookahead by construction: appending future candles never changes a decision."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from project.kernel.scheduling import IntervalTrigger
from strategies.backtesting.engine import BacktestSpec, backtest_run
from tests.strategies.backtesting.series import START, candles_of

KINDS = [
    ("sma_crossover", {"fast": 2, "slow": 5}),
    ("rsi_thresholds", {"period": 3}),
    ("dca", {"quote_amount": "10"}),
]
closes = st.lists(st.integers(min_value=90, max_value=110).map(Decimal), min_size=8, max_size=80)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    past=closes,
    future=closes,
    kind=st.sampled_from(KINDS),
    every=st.sampled_from([30, 60, 90, 180]),
    fast=st.booleans(),
)
def test_appending_future_candles_never_changes_a_decision(past, future, kind, every, fast):
    cut = START + timedelta(minutes=len(past))  # the last known candle closes here
    spec = BacktestSpec(
        kind[0], kind[1], "1m", START, cut + timedelta(seconds=1),
        trigger=IntervalTrigger(every), fast=fast, max_orders_per_day=None,
    )  # fmt: skip

    known = backtest_run(spec, candles_of(past))
    with_future = backtest_run(spec, candles_of(past + future))
    later = backtest_run(
        BacktestSpec(**{**spec.__dict__, "end": cut + timedelta(minutes=len(future))}),
        candles_of(past + future),
    )

    assert with_future.fills == known.fills
    assert with_future.trades_hash == known.trades_hash
    assert later.fills[: len(known.fills)] == known.fills  # a longer run starts the same way
    assert all(fill.time <= cut for fill in known.fills)
