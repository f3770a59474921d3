"""Which sets a sweep backtests on which windows, written as rows in chunks before any runs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Max

from marketdata.models import TIMEFRAME_DURATIONS
from strategies.engine import get_strategy_class
from strategies.engine.base import parameters_to_json
from strategies.sweeps import space
from strategies.sweeps.models import Sweep, SweepSet
from strategies.sweeps.walkforward import Fold, folds_plan

ALL = "all"


def sweep_folds(sweep: Sweep) -> list[Fold]:
    """The sweep's walk-forward folds (none when `folds` is 0)."""
    if not sweep.folds:
        return []
    return folds_plan(
        start=sweep.start,
        end=sweep.end,
        folds=sweep.folds,
        ratio=sweep.fold_ratio,
        step=TIMEFRAME_DURATIONS[sweep.timeframe],
    )


def window_period(sweep: Sweep, window: str) -> tuple[datetime, datetime]:
    """[start, end) of a window: `all`, `is<n>` (fold n's in-sample) or `oos<n>`."""
    if window == ALL:
        return sweep.start, sweep.end
    fold = sweep_folds(sweep)[int(window.lstrip("iso"))]
    if window.startswith("is"):
        return fold.in_start, fold.in_end
    return fold.out_start, fold.out_end


def sweep_sets(sweep: Sweep) -> list[dict[str, Any]]:
    """The sets a grid or random sweep runs (TPE asks for its own as it goes)."""
    kind = get_strategy_class(sweep.kind)
    axes = space.space_parse(kind, sweep.space)
    if sweep.search == Sweep.Search.GRID:
        return list(space.grid_sets(kind, axes))
    return space.random_sets(kind, axes, size=sweep.size, seed=sweep.seed)


def sets_plan(sweep: Sweep, sets: Iterable[dict[str, Any]], windows: list[str]) -> list[SweepSet]:
    """Rows for each set on each window, `chunk_size` to a chunk, a chunk on one window; a row
    already planned is left as it is (unique per sweep, window and set)."""
    first = (sweep.sets.aggregate(last=Max("chunk"))["last"] or -1) + 1
    rows = []
    cleaned = list(sets)
    for w, window in enumerate(windows):
        per_window = -(-len(cleaned) // sweep.chunk_size)
        for i, parameters in enumerate(cleaned):
            rows.append(
                SweepSet(
                    sweep=sweep,
                    window=window,
                    params_hash=space.set_hash(parameters),
                    parameters=parameters_to_json(parameters),
                    chunk=first + w * per_window + i // sweep.chunk_size,
                )
            )
    return SweepSet.objects.bulk_create(rows, ignore_conflicts=True)


def sweep_windows(sweep: Sweep) -> list[str]:
    """The windows every set runs on: the whole period, and each fold's in-sample window."""
    return [ALL, *(f"is{fold.index}" for fold in sweep_folds(sweep))]
