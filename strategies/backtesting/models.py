"""Backtests as stored: what was asked, its progress, its figures, trades and fills."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from marketdata.models import PRICE, Timeframe
from project.kernel.scheduling import IntervalTrigger, Trigger, trigger_field_errors
from project.kernel.validators import amount_validators
from strategies.bounds import interval_seconds_validators, orders_per_day_validators
from strategies.engine import parameter_errors, strategy_choices
from strategies.job import job_trigger

# The most ticks one backtest replays: ten years of 1-minute ticks (its arrays stay in memory).
MAX_TICKS = 5_256_000


class Backtest(models.Model):
    """A strategy kind and parameters replayed over a period of a market's stored candles.

    The trigger fields are a strategy's (`interval_seconds`, else once per timeframe, or a
    `crontab`): the backtest replays the ticks its paper strategy would run on. Results are
    written once it has succeeded; `trades_hash` fingerprints its trades, code and parameters.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests"
    )
    strategy = models.ForeignKey(
        "strategies.Strategy",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="backtests",
        help_text="The strategy it was run from, if any.",
    )
    market = models.ForeignKey("marketdata.Market", on_delete=models.PROTECT, related_name="+")
    timeframe = models.CharField(max_length=4, choices=Timeframe.choices, default=Timeframe.H1)
    kind = models.CharField(max_length=50, choices=strategy_choices)
    parameters = models.JSONField(default=dict, blank=True)
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=interval_seconds_validators
    )
    crontab = models.CharField(max_length=100, blank=True)
    crontab_timezone = models.CharField(max_length=64, default="UTC")
    start = models.DateTimeField()
    end = models.DateTimeField()
    capital = models.DecimalField(**PRICE, default=Decimal(10_000), validators=amount_validators)
    fee_rate = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=Decimal("0.001"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("0.1"))],
    )
    max_position = models.DecimalField(**PRICE, null=True, blank=True, validators=amount_validators)
    max_orders_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=orders_per_day_validators,
        help_text="Most orders a UTC day, as the strategy's guardrail. Empty: no cap.",
    )
    backfill = models.BooleanField(
        default=True, help_text="Fetch the period's missing candles from the exchange first."
    )

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    cancel_requested = models.BooleanField(default=False)
    progress_pct = models.FloatField(default=0)
    candles_done = models.PositiveIntegerField(default=0)
    candles_total = models.PositiveIntegerField(default=0)
    stage = models.CharField(max_length=20, blank=True)  # backfill, replay
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)

    figures = models.JSONField(default=dict, blank=True)
    equity = models.JSONField(default=list, blank=True)  # [[iso time, equity], ...]
    refusals = models.JSONField(default=dict, blank=True)
    used_parameters = models.JSONField(default=dict, blank=True)
    trades_hash = models.CharField(max_length=64, blank=True)
    code_version = models.CharField(max_length=64, blank=True)
    ticks = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="backtest_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"Backtest {self.pk}: {self.kind} on {self.market_id} {self.timeframe}"

    def clean(self) -> None:
        """The parameters by the kind's schema, the trigger by the scheduling interface, and a
        period that ends after it starts; errors land on their field."""
        super().clean()
        errors: dict[str, list[str]] = {}
        trigger = trigger_field_errors(crontab=self.crontab, timezone=self.crontab_timezone)
        errors.update({name: [message] for name, message in trigger.items()})
        problems = parameter_errors(self.kind, self.parameters)
        if problems:
            errors["parameters"] = [f"{name}: {message}" for name, message in problems.items()]
        if self.start and self.end and self.end <= self.start:
            errors["end"] = ["must be after the start"]
        elif self.start and self.end and not errors and self._ticks_at_most() > MAX_TICKS:
            errors["end"] = [
                f"the period has more than {MAX_TICKS:,} ticks of its trigger: shorten it"
            ]
        if errors:
            raise ValidationError(errors)

    def _ticks_at_most(self) -> float:
        """How many ticks the period can hold: by the interval, or a crontab's once a minute."""
        trigger = self.trigger
        every = trigger.seconds if isinstance(trigger, IntervalTrigger) else 60
        return (self.end - self.start).total_seconds() / every

    @property
    def trigger(self) -> Trigger:
        return job_trigger(
            crontab=self.crontab,
            crontab_timezone=self.crontab_timezone,
            interval_seconds=self.interval_seconds,
            timeframe=self.timeframe,
        )

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


FINISHED = {Backtest.Status.SUCCEEDED, Backtest.Status.FAILED, Backtest.Status.CANCELLED}


class BacktestFill(models.Model):
    """One paper fill of a backtest, at its tick (the chart marks these)."""

    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="fills")
    seq = models.PositiveIntegerField()
    tick = models.DateTimeField()
    side = models.CharField(max_length=4)
    amount = models.DecimalField(**PRICE)
    price = models.DecimalField(**PRICE)
    fee = models.DecimalField(**PRICE)

    class Meta:
        ordering = ["backtest", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["backtest", "seq"], name="backtest_fill_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} at {self.price} ({self.tick:%Y-%m-%d %H:%M:%S})"


class BacktestTrade(models.Model):
    """One round trip of a backtest (the open position as an open trade, exit empty)."""

    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="trades")
    seq = models.PositiveIntegerField()
    entry_time = models.DateTimeField()
    exit_time = models.DateTimeField(null=True, blank=True)
    amount = models.DecimalField(**PRICE)
    entry_price = models.DecimalField(**PRICE)
    exit_price = models.DecimalField(**PRICE, null=True, blank=True)
    profit = models.DecimalField(**PRICE, null=True, blank=True)
    profit_pct = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    duration_seconds = models.BigIntegerField(null=True, blank=True)
    fees = models.DecimalField(**PRICE)

    class Meta:
        ordering = ["backtest", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["backtest", "seq"], name="backtest_trade_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.amount} from {self.entry_time:%Y-%m-%d %H:%M}: {self.profit}"
