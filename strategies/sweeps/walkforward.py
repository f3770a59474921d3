"""Walk-forward folds: rolling in-sample / out-of-sample windows, and how each fold held up.

Pure: no database. A period of `folds` out-of-sample windows, each `ratio` times shorter than the
in-sample window before it, rolled forward by one out-of-sample length:

    |---- in-sample 0 ----|- oos 0 -|
              |---- in-sample 1 ----|- oos 1 -|   ...

Window edges fall on the timeframe's grid, so a window holds whole candles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_FOLDS = 6

# Figures that grow with the window's length are compared per day; the others are rates already.
PER_DAY_FIGURES = frozenset({"total_return", "return_over_drawdown"})


@dataclass(frozen=True)
class Fold:
    index: int
    in_start: datetime
    in_end: datetime
    out_end: datetime

    @property
    def out_start(self) -> datetime:
        return self.in_end


def folds_plan(
    *, start: datetime, end: datetime, folds: int, ratio: int, step: timedelta
) -> list[Fold]:
    """`folds` rolling folds over [start, end): in-sample `ratio` out-of-sample lengths long.

    The out-of-sample length is the period over (ratio + folds), floored to whole `step`s;
    the last fold ends at or before `end`.
    """
    if folds < MIN_FOLDS:
        raise ValueError(f"walk-forward needs at least {MIN_FOLDS} folds")
    if ratio < 1:
        raise ValueError("the in-sample window must be at least as long as the out-of-sample one")
    out_len = (end - start) // (ratio + folds) // step * step
    if out_len < step:
        raise ValueError(f"the period is too short for {folds} folds of {ratio}:1")
    in_len = out_len * ratio
    return [
        Fold(
            i, start + out_len * i, start + out_len * i + in_len, start + out_len * (i + 1) + in_len
        )
        for i in range(folds)
    ]


@dataclass(frozen=True)
class FoldVerdict:
    """A fold's best in-sample set judged on the out-of-sample window after it."""

    efficiency: float | None  # out-of-sample over in-sample (per day where the figure grows)
    overfitted: bool
    reason: str


def fold_verdict(
    *, objective: str, in_value: float, out_value: float, fold: Fold, share: float
) -> FoldVerdict:
    """Efficiency = OOS / IS; below `share` the set is flagged as likely overfitted. An
    in-sample figure at or below zero has no edge to keep: flagged unless OOS is positive."""
    if objective in PER_DAY_FIGURES:
        in_value = in_value / _days(fold.in_end - fold.in_start)
        out_value = out_value / _days(fold.out_end - fold.out_start)
    if in_value <= 0:
        flagged = out_value <= 0
        reason = "no in-sample edge" if flagged else ""
        return FoldVerdict(None, flagged, reason)
    efficiency = out_value / in_value
    if efficiency < share:
        return FoldVerdict(
            efficiency, True, f"out-of-sample is {efficiency:.0%} of in-sample (< {share:.0%})"
        )
    return FoldVerdict(efficiency, False, "")


def _days(length: timedelta) -> float:
    return length.total_seconds() / 86400
