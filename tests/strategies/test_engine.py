"""The strategy engine: shipped strategies on crafted candles, the schema, the registry and the
safe wrapper around user code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import pytest

from strategies.engine import (
    Action,
    Bar,
    BaseStrategy,
    Param,
    ParamType,
    Signal,
    get_strategy_class,
    register,
    strategy_choices,
)
from strategies.engine.builtin import rsi
from strategies.engine.safety import strategy_build, strategy_decide
from strategies.errors import InvalidParameters, StrategyCodeFailed, UnknownStrategy


def bars(*closes: int | str) -> list[Bar]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        Bar(
            open_time=start + timedelta(hours=i),
            open=Decimal(c),
            high=Decimal(c),
            low=Decimal(c),
            close=Decimal(c),
            volume=Decimal(1),
        )
        for i, c in enumerate(closes)
    ]


def build(key: str, **params: object) -> BaseStrategy:
    cls = get_strategy_class(key)
    return strategy_build(cls, cls.clean_parameters(params))


def test_the_three_shipped_strategies_are_registered_by_key() -> None:
    keys = {key for key, _ in strategy_choices()}

    assert {"sma_crossover", "rsi_thresholds", "dca"} <= keys
    assert dict(strategy_choices())["sma_crossover"] == "SMA crossover"


def test_sma_buys_when_the_fast_average_crosses_above_the_slow_one() -> None:
    strategy = build("sma_crossover", fast=2, slow=3, quote_amount=50)
    # Before: fast (8+7)/2=7.5 < slow (9+8+7)/3=8; now: fast (7+12)/2=9.5 > slow (8+7+12)/3=9.
    candles = bars(9, 9, 8, 7, 12)

    signal = strategy.decide(candles)

    assert strategy.candles_required() == 4
    assert signal == Signal(Action.BUY, quote_amount=Decimal(50))


def test_sma_sells_when_the_fast_average_crosses_below_the_slow_one() -> None:
    strategy = build("sma_crossover", fast=2, slow=3)

    # Before: fast 10 > slow 9; now: fast (12+3)/2=7.5 < slow (8+12+3)/3=7.67.
    signal = strategy.decide(bars(7, 8, 12, 3))

    assert signal == Signal(Action.SELL)


def test_sma_holds_while_the_averages_do_not_cross() -> None:
    strategy = build("sma_crossover", fast=2, slow=3)

    signal = strategy.decide(bars(1, 2, 3, 4, 5))

    assert signal.action is Action.HOLD


def test_rsi_is_computed_from_the_last_period_changes() -> None:
    # Changes +2, -1, +3, -1: gains 5, losses 2, RS 2.5, RSI 100 - 100/3.5.
    value = rsi([Decimal(c) for c in (100, 10, 12, 11, 14, 13)], period=4)

    assert value == Decimal(100) - Decimal(100) / Decimal("3.5")
    assert rsi([Decimal(5)] * 5, period=4) == Decimal(50)
    assert rsi([Decimal(c) for c in (1, 2, 3)], period=2) == Decimal(100)


@pytest.mark.parametrize(
    ("closes", "action"),
    [
        ((20, 19, 18, 17, 16), Action.BUY),  # only losses: RSI 0
        ((16, 17, 18, 19, 20), Action.SELL),  # only gains: RSI 100
        ((10, 11, 10, 11, 10), Action.HOLD),  # RSI 50
    ],
)
def test_rsi_buys_below_oversold_and_sells_above_overbought(
    closes: tuple[int, ...], action: Action
) -> None:
    strategy = build("rsi_thresholds", period=4, oversold=30, overbought=70)

    signal = strategy.decide(bars(*closes))

    assert strategy.candles_required() == 5
    assert signal.action is action


def test_dca_buys_its_fixed_quote_amount_every_run() -> None:
    strategy = build("dca", quote_amount="25.5")

    signal = strategy.decide(bars(100))

    assert signal == Signal(Action.BUY, quote_amount=Decimal("25.5"))


def test_defaults_fill_in_omitted_parameters() -> None:
    params = get_strategy_class("sma_crossover").clean_parameters({"fast": 5})

    assert params == {"fast": 5, "slow": 30, "quote_amount": Decimal(100)}


@pytest.mark.parametrize(
    ("key", "raw", "errors"),
    [
        ("sma_crossover", {"fast": 0}, {"fast": "must be at least 1"}),
        ("sma_crossover", {"slow": "ten"}, {"slow": "must be a whole number"}),
        ("sma_crossover", {"fast": 40, "slow": 20}, {"fast": "must be less than slow"}),
        (
            "sma_crossover",
            {"fats": 3},
            {"fats": "unknown parameter (known: fast, quote_amount, slow)"},
        ),
        ("rsi_thresholds", {"oversold": 101}, {"oversold": "must be at most 100"}),
        ("rsi_thresholds", {"period": True}, {"period": "must be a whole number"}),
        ("dca", {"quote_amount": "lots"}, {"quote_amount": "must be a number"}),
        ("dca", {"quote_amount": -5}, {"quote_amount": "must be at least 0.00000001"}),
    ],
)
def test_invalid_parameters_get_a_message_per_field(
    key: str, raw: dict[str, object], errors: dict[str, str]
) -> None:
    with pytest.raises(InvalidParameters) as caught:
        get_strategy_class(key).clean_parameters(raw)

    assert caught.value.errors == errors


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidParameters) as caught:
        get_strategy_class("rsi_thresholds").clean_parameters({"period": 1, "oversold": "x"})

    assert set(caught.value.errors) == {"period", "oversold"}


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(UnknownStrategy, match="'martingale'"):
        get_strategy_class("martingale")


def test_register_refuses_a_key_taken_by_another_class() -> None:
    class Impostor(BaseStrategy):
        key = "dca"
        display_name = "Impostor"

        def decide(self, candles: Sequence[Bar]) -> Signal:
            return Signal.hold()

    with pytest.raises(TypeError, match="taken"):
        register(Impostor)
    assert get_strategy_class("dca").__name__ == "DollarCostAveraging"


def test_register_refuses_defaults_outside_their_bounds() -> None:
    class BadDefault(BaseStrategy):
        key = "bad_default"
        display_name = "Bad default"
        parameters: ClassVar[dict[str, Param]] = {
            "n": Param(ParamType.INTEGER, default=0, minimum=1)
        }

        def decide(self, candles: Sequence[Bar]) -> Signal:
            return Signal.hold()

    with pytest.raises(TypeError, match="defaults are invalid"):
        register(BadDefault)
    assert "bad_default" not in dict(strategy_choices())


def test_the_safe_wrapper_turns_any_exception_into_a_recorded_failure() -> None:
    class Broken(BaseStrategy):
        key = "broken"
        display_name = "Broken"

        def decide(self, candles: Sequence[Bar]) -> Signal:
            return {}["missing"]

    with pytest.raises(StrategyCodeFailed) as caught:
        strategy_decide(Broken({}), bars(1))

    assert caught.value.error_class == "KeyError"
    assert caught.value.message == "'missing'"


def test_the_safe_wrapper_refuses_a_result_that_is_not_a_signal() -> None:
    class Sloppy(BaseStrategy):
        key = "sloppy"
        display_name = "Sloppy"

        def decide(self, candles: Sequence[Bar]) -> Signal:
            return "buy"  # type: ignore[return-value]

    with pytest.raises(StrategyCodeFailed, match="returned str, not a Signal"):
        strategy_decide(Sloppy({}), bars(1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": Action.BUY}, "must give amount or quote_amount"),
        ({"action": Action.SELL, "quote_amount": Decimal(1)}, "base asset"),
        ({"action": Action.BUY, "amount": Decimal(-1)}, "positive"),
        ({"action": "buy", "amount": Decimal(1)}, "unknown action"),
    ],
)
def test_malformed_signals_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Signal(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [5.310731685934846e307, 1e18, "-1000000000000000000.5"])
def test_a_decimal_parameter_past_eighteen_digits_is_refused_whatever_its_json_type(
    value: float | str,
) -> None:
    param = Param(ParamType.DECIMAL, default=Decimal(1))

    with pytest.raises(ValueError, match=r"at most 18 digits|must be a number"):
        param.clean(value)
