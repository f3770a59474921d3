"""Walk-forward folds and their verdicts, computed by hand on a known period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strategies.sweeps.walkforward import fold_verdict, folds_plan

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_six_folds_of_four_to_one_over_100_hours_roll_by_ten_hours() -> None:
    folds = folds_plan(start=T0, end=T0 + 100 * HOUR, folds=6, ratio=4, step=HOUR)

    # out-of-sample = 100 h / (4 + 6) = 10 h, in-sample = 40 h, each fold 10 h later.
    by_hand = [(0, 40, 50), (10, 50, 60), (20, 60, 70), (30, 70, 80), (40, 80, 90), (50, 90, 100)]
    assert [
        ((f.in_start - T0) / HOUR, (f.in_end - T0) / HOUR, (f.out_end - T0) / HOUR) for f in folds
    ] == by_hand
    assert all(f.out_start == f.in_end for f in folds)


def test_windows_are_floored_to_whole_candles_and_stay_inside_the_period() -> None:
    folds = folds_plan(start=T0, end=T0 + 107 * HOUR, folds=7, ratio=3, step=HOUR)

    # 107 h / 10 = 10.7 h, floored to 10 h: in-sample 30 h; the last fold ends at 100 h.
    assert folds[0].in_end - folds[0].in_start == 30 * HOUR
    assert folds[-1].out_end == T0 + 100 * HOUR


def test_fewer_than_six_folds_or_a_too_short_period_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 6"):
        folds_plan(start=T0, end=T0 + 100 * HOUR, folds=5, ratio=4, step=HOUR)
    with pytest.raises(ValueError, match="too short"):
        folds_plan(start=T0, end=T0 + 9 * HOUR, folds=6, ratio=4, step=HOUR)


def test_efficiency_is_out_of_sample_over_in_sample_and_below_the_share_is_flagged() -> None:
    fold = folds_plan(start=T0, end=T0 + 100 * HOUR, folds=6, ratio=4, step=HOUR)[0]

    held = fold_verdict(objective="sharpe", in_value=2.0, out_value=1.5, fold=fold, share=0.5)
    fell = fold_verdict(objective="sharpe", in_value=2.0, out_value=0.8, fold=fold, share=0.5)

    assert held.efficiency == pytest.approx(0.75)
    assert not held.overfitted
    assert fell.efficiency == pytest.approx(0.4)
    assert fell.overfitted
    assert "40%" in fell.reason


def test_a_return_is_compared_per_day_of_its_window() -> None:
    fold = folds_plan(start=T0, end=T0 + 100 * HOUR, folds=6, ratio=4, step=HOUR)[0]

    # 8 % over 40 h in-sample, 1 % over 10 h out-of-sample: per day 4.8 % and 2.4 %.
    verdict = fold_verdict(
        objective="total_return", in_value=0.08, out_value=0.01, fold=fold, share=0.6
    )

    assert verdict.efficiency == pytest.approx(0.5)
    assert verdict.overfitted


def test_no_in_sample_edge_is_flagged_unless_out_of_sample_made_money() -> None:
    fold = folds_plan(start=T0, end=T0 + 100 * HOUR, folds=6, ratio=4, step=HOUR)[0]

    lost = fold_verdict(objective="sharpe", in_value=-0.5, out_value=-1.0, fold=fold, share=0.5)
    won = fold_verdict(objective="sharpe", in_value=-0.5, out_value=0.3, fold=fold, share=0.5)

    assert lost.efficiency is None
    assert lost.overfitted
    assert won.efficiency is None
    assert not won.overfitted
