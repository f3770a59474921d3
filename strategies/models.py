"""Strategies, their runs (one per scheduled tick) and their orders (one per client order id)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from marketdata.models import PRICE, ExchangeAccount, Market, Timeframe
from project.kernel.scheduling import Trigger, trigger_field_errors
from project.kernel.validators import amount_validators, validate_name
from strategies import job
from strategies.bounds import interval_seconds_validators, orders_per_day_validators
from strategies.engine import parameter_errors, strategy_choices


class Strategy(models.Model):
    """A user's strategy: which market it trades, how it decides, how often it runs.

    It runs on an interval (`interval_seconds`, defaulting to the timeframe) or on a crontab
    in `crontab_timezone` when `crontab` is set. `is_active` is the wish; the scheduler job
    `strategy_<id>` exists exactly while it is true.
    """

    class Mode(models.TextChoices):
        PAPER = "paper", "Paper"
        LIVE = "live", "Live"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strategies"
    )
    name = models.CharField(max_length=100, validators=[validate_name])
    account = models.ForeignKey(
        ExchangeAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="strategies",
        help_text="The exchange account live orders go to; none for paper trading.",
    )
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="strategies")
    timeframe = models.CharField(max_length=4, choices=Timeframe.choices, default=Timeframe.H1)
    kind = models.CharField(
        max_length=50, choices=strategy_choices, help_text="Key of a registered strategy class."
    )
    parameters = models.JSONField(default=dict, blank=True)
    interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=interval_seconds_validators,
        help_text="Run every N seconds. Empty: once per timeframe.",
    )
    crontab = models.CharField(
        max_length=100,
        blank=True,
        help_text="Five-field crontab, e.g. '*/15 * * * *'. Overrides the interval.",
    )
    crontab_timezone = models.CharField(max_length=64, default="UTC")
    mode = models.CharField(max_length=5, choices=Mode.choices, default=Mode.PAPER)
    is_active = models.BooleanField(default=False)
    paused_reason = models.TextField(blank=True)
    max_position = models.DecimalField(
        **PRICE,
        null=True,
        blank=True,
        validators=amount_validators,
        help_text="Largest position in the base asset.",
    )
    max_orders_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=orders_per_day_validators,
        help_text="Most orders a UTC day (rejected ones not counted). Empty: no cap.",
    )
    from_backtest = models.ForeignKey(
        "strategies.Backtest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The backtest this strategy was created from.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "strategies"
        ordering = ["owner", "name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="strategy_unique_name"),
        ]
        # A scheduler's start-up reads only the strategies saved since its last job sync.
        indexes = [models.Index(fields=["updated_at"], name="strategy_updated_at")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Parameters must fit the kind's schema, the crontab and its time zone the scheduling
        interface's rule, the account the owner and market; errors land on their field."""
        super().clean()
        errors: dict[str, list[str]] = {}
        if self.mode == self.Mode.LIVE and self.account_id is None:
            errors["account"] = ["live trading needs an exchange account"]
        account_error = self._account_error()
        if account_error:
            errors["account"] = [account_error]
        trigger = trigger_field_errors(crontab=self.crontab, timezone=self.crontab_timezone)
        errors.update({name: [message] for name, message in trigger.items()})
        problems = parameter_errors(self.kind, self.parameters)
        if problems:
            errors["parameters"] = [f"{name}: {message}" for name, message in problems.items()]
        if errors:
            raise ValidationError(errors)

    def _account_error(self) -> str:
        """Orders go to the owner's own account, on the exchange the market is on."""
        if self.account_id is None:
            return ""
        account = ExchangeAccount.objects.filter(pk=self.account_id).first()
        market = Market.objects.filter(pk=self.market_id).select_related("exchange").first()
        if account is None:
            return ""  # field validation reports a missing account
        if self.owner_id is not None and account.owner_id != self.owner_id:
            return "must be an exchange account of the strategy's owner"
        if market is not None and account.exchange_id != market.exchange_id:
            return f"must be an account on {market.exchange.name}, the market's exchange"
        return ""

    @property
    def job_id(self) -> str:
        return job.job_id(self.pk)

    @property
    def trigger(self) -> Trigger:
        """When the job runs: the crontab if one is set, else the interval on the epoch grid."""
        return job.job_trigger(
            crontab=self.crontab,
            crontab_timezone=self.crontab_timezone,
            interval_seconds=self.interval_seconds,
            timeframe=self.timeframe,
        )


class StrategyRun(models.Model):
    """One execution of a strategy for one scheduled tick; a tick never runs twice."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class Trigger(models.TextChoices):
        """What fired the run: its schedule, an owner's "run now", or the beat catching up."""

        SCHEDULE = "schedule", "Schedule"
        RUN_NOW = "run_now", "Run now"
        CATCH_UP = "catch_up", "Catch-up"

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="runs")
    scheduled_tick = models.DateTimeField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    signal = models.CharField(max_length=10, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, help_text="Why a run was skipped.")
    error_class = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.SCHEDULE)

    class Meta:
        ordering = ["strategy", "-scheduled_tick"]
        constraints = [
            models.UniqueConstraint(
                fields=["strategy", "scheduled_tick"], name="run_unique_per_tick"
            ),
            # Never two runs of one strategy at once: the database refuses the overlap.
            models.UniqueConstraint(
                fields=["strategy"],
                condition=models.Q(status="running"),
                name="run_one_running_per_strategy",
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"{self.strategy} @ {self.scheduled_tick:%Y-%m-%d %H:%M:%S}: {self.status}"


class Order(models.Model):
    """An order a run decided on; its client order id makes sending it idempotent."""

    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    class Type(models.TextChoices):
        MARKET = "market", "Market"
        LIMIT = "limit", "Limit"

    class Status(models.TextChoices):
        NEW = "new", "New (not yet sent)"
        OPEN = "open", "Open"
        FILLED = "filled", "Filled"
        CANCELED = "canceled", "Canceled"
        REJECTED = "rejected", "Rejected"

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="orders")
    run = models.ForeignKey(StrategyRun, on_delete=models.CASCADE, related_name="orders")
    mode = models.CharField(max_length=5, choices=Strategy.Mode.choices)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=6, choices=Type.choices, default=Type.MARKET)
    amount = models.DecimalField(**PRICE)
    price = models.DecimalField(**PRICE, null=True, blank=True)
    filled_amount = models.DecimalField(**PRICE, default=Decimal(0))
    average_price = models.DecimalField(**PRICE, null=True, blank=True)
    fee = models.DecimalField(**PRICE, default=Decimal(0))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    client_order_id = models.CharField(max_length=64, unique=True)
    exchange_order_id = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.strategy.market.symbol} ({self.status})"


class PaperPosition(models.Model):
    """A paper-trading strategy's simulated holdings: base asset and quote cash."""

    strategy = models.OneToOneField(
        Strategy, on_delete=models.CASCADE, related_name="paper_position"
    )
    base_amount = models.DecimalField(**PRICE, default=Decimal(0))
    quote_balance = models.DecimalField(**PRICE, default=Decimal(10_000))
    average_entry_price = models.DecimalField(**PRICE, null=True, blank=True)
    fees_paid = models.DecimalField(**PRICE, default=Decimal(0))
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.strategy}: {self.base_amount} base, {self.quote_balance} quote"


# Backtests keep their models in their own package; imported here so the app registers them.
from strategies.backtesting.models import Backtest, BacktestFill, BacktestTrade  # noqa: E402, F401

# Sweeps keep their models in their own package; imported here so the app registers them.
from strategies.sweeps.models import Sweep, SweepPromotion, SweepSet  # noqa: E402, F401
