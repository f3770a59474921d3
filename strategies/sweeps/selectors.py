"""Sweep reads: progress, the top sets, the figure over two parameters, the walk-forward folds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q

from strategies.sweeps import planning
from strategies.sweeps.models import Sweep, SweepSet
from strategies.sweeps.walkforward import FoldVerdict, fold_verdict


@dataclass(frozen=True)
class Progress:
    planned: int
    done: int
    failed: int

    @property
    def percent(self) -> float:
        return round(100 * self.done / self.planned, 1) if self.planned else 0.0


def sweep_progress(*, sweep: Sweep) -> Progress:
    """Sets planned and done (one query); a TPE sweep counts its `size` as planned."""
    counts = sweep.sets.aggregate(
        planned=Count("id"),
        done=Count("id", filter=Q(done_at__isnull=False)),
        failed=Count("id", filter=~Q(error="")),
    )
    planned = counts["planned"]
    if sweep.search == Sweep.Search.TPE:
        planned = max(planned, sweep.size)
    return Progress(planned, counts["done"], counts["failed"])


def sweep_top(*, sweep: Sweep, window: str = planning.ALL, limit: int = 20) -> list[SweepSet]:
    """The best ranked sets of a window by the sweep's objective."""
    ranked = sweep.sets.filter(window=window, ranked=True, value__isnull=False)
    return list(ranked.order_by("-value", "id")[:limit])


@dataclass(frozen=True)
class Heatmap:
    x_name: str
    y_name: str
    xs: list[Any]
    ys: list[Any]
    cells: dict[tuple[Any, Any], float | None]  # the best value of each (x, y), None: unranked


def sweep_heatmap(*, sweep: Sweep, x: str, y: str) -> Heatmap:
    """The objective over two parameters on the whole period: each cell the best of the sets
    with those two values (the other parameters vary under it)."""
    cells: dict[tuple[Any, Any], float | None] = {}
    rows = sweep.sets.filter(window=planning.ALL, done_at__isnull=False)
    for parameters, value, ranked in rows.values_list("parameters", "value", "ranked"):
        key = (parameters.get(x), parameters.get(y))
        if ranked and value is not None:
            best = cells.get(key)
            cells[key] = value if best is None else max(best, value)
        else:
            cells.setdefault(key, None)
    xs = sorted({k[0] for k in cells}, key=_number)
    ys = sorted({k[1] for k in cells}, key=_number)
    return Heatmap(x, y, xs, ys, cells)


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True)
class FoldReport:
    index: int
    in_start: datetime
    in_end: datetime
    out_end: datetime
    best: SweepSet | None  # the best ranked in-sample set
    out_of_sample: SweepSet | None  # that set on the out-of-sample window
    verdict: FoldVerdict | None


def sweep_folds_report(*, sweep: Sweep) -> list[FoldReport]:
    """Per fold: the in-sample best, its out-of-sample result and the verdict on it."""
    rows = {
        (row.window, row.params_hash): row
        for row in sweep.sets.exclude(window=planning.ALL).filter(done_at__isnull=False)
    }
    reports = []
    for fold in planning.sweep_folds(sweep):
        best = next(iter(sweep_top(sweep=sweep, window=f"is{fold.index}", limit=1)), None)
        out = rows.get((f"oos{fold.index}", best.params_hash)) if best else None
        verdict = None
        if best is not None and out is not None and best.value is not None:
            verdict = fold_verdict(
                objective=sweep.objective,
                in_value=best.value,
                out_value=out.value if out.value is not None else 0.0,
                fold=fold,
                share=float(sweep.overfit_share),
            )
        reports.append(
            FoldReport(fold.index, fold.in_start, fold.in_end, fold.out_end, best, out, verdict)
        )
    return reports


def set_overfitted(*, sweep: Sweep, sweep_set: SweepSet) -> tuple[bool, int | None]:
    """Whether a set is flagged by a fold it won (and which fold): the page warns before a
    promotion. A set that won no fold is judged by none."""
    for report in sweep_folds_report(sweep=sweep):
        won = report.best is not None and report.best.params_hash == sweep_set.params_hash
        if won and report.verdict is not None and report.verdict.overfitted:
            return True, report.index
    return False, None
