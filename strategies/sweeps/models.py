"""Sweeps: a parameter space backtested set by set, one result row per (sweep, window, set)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from marketdata.models import PRICE, Market, Timeframe
from strategies.engine import strategy_choices

# What a person sets when defining a sweep (the admin's form, the API's writable fields).
SWEEP_DEFINITION = (
    "name",
    "kind",
    "market",
    "timeframe",
    "start",
    "end",
    "space",
    "search",
    "size",
    "seed",
    "objective",
    "min_trades",
    "capital",
    "fee_rate",
    "chunk_size",
    "folds",
    "fold_ratio",
    "overfit_share",
)


class Sweep(models.Model):
    """Which strategy kind to backtest over which space, how to search it, what to maximise.

    `space` maps each swept parameter to {"values": [...]} or {"min", "max", "step"?}; the
    others keep their default. `folds` > 0 adds walk-forward windows (see walkforward.py).
    """

    class Search(models.TextChoices):
        GRID = "grid", "Grid"
        RANDOM = "random", "Random"
        TPE = "tpe", "TPE (Optuna)"

    class Objective(models.TextChoices):
        SHARPE = "sharpe", "Sharpe ratio"
        SORTINO = "sortino", "Sortino ratio"
        TOTAL_RETURN = "total_return", "Total return"
        RETURN_OVER_DRAWDOWN = "return_over_drawdown", "Return over max drawdown"
        PROFIT_FACTOR = "profit_factor", "Profit factor"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sweeps"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=50, choices=strategy_choices)
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="sweeps")
    timeframe = models.CharField(max_length=4, choices=Timeframe.choices, default=Timeframe.H1)
    start = models.DateTimeField()
    end = models.DateTimeField()
    space = models.JSONField()
    search = models.CharField(max_length=6, choices=Search.choices, default=Search.GRID)
    size = models.PositiveIntegerField(
        default=100, help_text="Sets drawn (random) or trials run (TPE); a grid takes them all."
    )
    seed = models.PositiveIntegerField(default=0)
    objective = models.CharField(max_length=24, choices=Objective.choices, default=Objective.SHARPE)
    min_trades = models.PositiveIntegerField(default=0, help_text="Fewer trades: not ranked.")
    capital = models.DecimalField(**PRICE, default=Decimal(10_000))
    fee_rate = models.DecimalField(**PRICE, default=Decimal("0.001"))
    chunk_size = models.PositiveIntegerField(default=25)
    folds = models.PositiveIntegerField(default=0, help_text="Walk-forward folds; 0: none.")
    fold_ratio = models.PositiveIntegerField(default=4, help_text="In-sample : out-of-sample.")
    overfit_share = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Out-of-sample below this share of in-sample: likely overfitted.",
    )
    study_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class SweepSet(models.Model):
    """One parameter set on one window of a sweep, and its result once backtested.

    Planned before it runs; `done_at` is set by the first finished backtest. A redelivered
    chunk runs only its sets without one. `evaluations` counts finished backtests of the row,
    so a repeat would show (the fault tests assert it stays 1).
    """

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="sets")
    window = models.CharField(max_length=12, default="all", help_text="all, is<n> or oos<n>.")
    params_hash = models.CharField(max_length=64)
    parameters = models.JSONField()
    chunk = models.PositiveIntegerField()
    trial = models.PositiveIntegerField(null=True, blank=True, help_text="Optuna's trial number.")
    figures = models.JSONField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True, help_text="The objective's figure.")
    ranked = models.BooleanField(default=False, help_text="Met the constraints.")
    error = models.TextField(blank=True)
    evaluations = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sweep", "chunk", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sweep", "window", "params_hash"], name="sweepset_unique_per_set"
            ),
        ]
        indexes = [models.Index(fields=["sweep", "chunk"]), models.Index(fields=["sweep", "value"])]

    def __str__(self) -> str:
        return f"{self.sweep} {self.window} {self.parameters}"


class SweepPromotion(models.Model):
    """A paper strategy made from a sweep's set: which sweep, set and fold it came from."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="promotions")
    sweep_set = models.ForeignKey(SweepSet, on_delete=models.CASCADE, related_name="promotions")
    fold = models.PositiveIntegerField(null=True, blank=True)
    strategy = models.OneToOneField(
        "strategies.Strategy", on_delete=models.CASCADE, related_name="sweep_promotion"
    )
    overfitted = models.BooleanField(default=False, help_text="Flagged when it was promoted.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.strategy} from {self.sweep}"
