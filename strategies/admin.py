"""Admin for strategies: every change goes through the lifecycle services, never the scheduler."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from marketdata.models import Market
from project.kernel.display import WideChangeListMixin
from project.kernel.scheduling import SchedulerError, get_scheduler
from strategies.admin_display import (
    CappedCountPaginator,
    ParametersWidget,
    StrategyChangeList,
    market_column,
    recent_orders,
    recent_runs,
    unit_of_work,
    when,
)
from strategies.backtesting.admin import backtest_strategies
from strategies.engine.registry import get_strategy_class, strategy_choices
from strategies.market_fields import MarketLabelField
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.services import (
    EDITABLE_FIELDS,
    UPDATABLE_FIELDS,
    StrategyError,
    strategy_create,
    strategy_delete,
    strategy_run_now,
    strategy_start,
    strategy_stop,
    strategy_update,
)
from strategies.status import strategy_next_run_at

# The columns of a strategy's orders inline (strategies.orders.ORDER_FIELDS are the model's).
ORDER_INLINE_FIELDS = (
    "client_order_id",
    "side",
    "type",
    "amount",
    "average_price",
    "fee",
    "status",
    "created_at",
)


class ReadOnlyAdminMixin:
    """History is written by the engine only: it can be read, never edited in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StrategyAdminForm(forms.ModelForm):
    """`Strategy.clean()` checks the parameters against the kind's schema and the crontab with
    the scheduling interface, and puts each message on its field; the help text and inputs are
    the chosen kind's. Ticking `is_active` starts the strategy through the lifecycle service on
    save."""

    market = MarketLabelField(
        queryset=Market.objects.filter(active=True),
        help_text="Type exchange:SYMBOL (e.g. demo:BTC/USD); active markets are suggested.",
    )

    class Meta:
        model = Strategy
        fields = ("owner", *EDITABLE_FIELDS, "is_active")
        widgets = {"parameters": ParametersWidget}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "parameters" in self.fields:
            kind = self.data.get("kind") or self.initial.get("kind") or self.instance.kind
            self.fields["parameters"].help_text = parameters_help(kind)


def parameters_help(kind: str | None = None) -> str:
    """The chosen kind's parameters (every kind's while none is chosen)."""
    lines = []
    for key, display_name in strategy_choices():
        if kind and key != kind:
            continue
        described = ", ".join(
            f"{name} ({spec['type']}, default {spec['default']})"
            for name, spec in get_strategy_class(key).schema().items()
        )
        lines.append(f"{display_name}: {described or 'no parameters'}")
    return "A JSON object; omitted parameters take their default. " + "; ".join(lines)


class RunOrderInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The orders of one run (a few at most), on the run's page."""

    model = Order
    fk_name = "run"
    fields = ORDER_INLINE_FIELDS
    readonly_fields = ORDER_INLINE_FIELDS
    extra = 0
    show_change_link = True


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    form = StrategyAdminForm
    list_display = (
        "name",
        "kind",
        "market",
        "mode",
        "is_active",
        "position",
        "pnl",
        "next_run_at",
        "last_run_status",
        "page_link",
    )
    list_filter = ("is_active", "mode", "kind")
    search_fields = ("name", "owner__username", "market__symbol")
    list_select_related = ("market__exchange",)
    raw_id_fields = ("owner", "account")
    readonly_fields = (
        "page_link",
        "next_run",
        "paused_reason",
        "created_at",
        "updated_at",
        "latest_runs",
        "latest_orders",
    )
    actions = ("start_strategies", "stop_strategies", "run_strategies_now", backtest_strategies)
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_fields(self, request: HttpRequest, obj: Strategy | None = None) -> list[str]:
        """A new strategy has no page, runs or dates yet: the add form leaves them out."""
        fields = list(super().get_fields(request, obj))
        return fields if obj is not None else [f for f in fields if f not in self.readonly_fields]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @admin.display(description="page")
    def page_link(self, strategy: Strategy) -> str:
        if strategy.pk is None:
            return "-"
        url = reverse("strategies:page", args=[strategy.pk])
        return format_html("<a href='{}'>chart &amp; performance</a>", url)

    @admin.display(description="next run")
    def next_run_at(self, strategy: Strategy) -> str:
        """From the trigger, like the scheduler: no scheduler call per listed row."""
        return when(strategy_next_run_at(strategy=strategy))

    @admin.display(description="latest runs")
    def latest_runs(self, strategy: Strategy) -> str:
        return recent_runs(strategy)

    @admin.display(description="latest orders")
    def latest_orders(self, strategy: Strategy) -> str:
        return recent_orders(strategy)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[StrategyChangeList]:
        return StrategyChangeList

    @admin.display(description="position")
    def position(self, strategy: Strategy) -> str:
        return getattr(strategy, "position_text", "-")

    @admin.display(description="P&L")
    def pnl(self, strategy: Strategy) -> str:
        return getattr(strategy, "pnl_text", "-")

    @admin.display(description="last run")
    def last_run_status(self, strategy: Strategy) -> str:
        return getattr(strategy, "last_run_status", "-")

    @admin.display(description="next run")
    def next_run(self, strategy: Strategy) -> str:
        if strategy.pk is None:
            return "-"
        try:
            job = get_scheduler().get_job(strategy.job_id)
        except SchedulerError as error:
            return f"scheduler unavailable: {error}"
        if job is None:
            return "-"
        return when(job.next_run_at) if job.next_run_at else "paused"

    def save_model(
        self, request: HttpRequest, obj: Strategy, form: forms.ModelForm, change: bool
    ) -> None:
        wants_active = obj.is_active
        if not change:
            # Created stopped by the same service the API uses; the checkbox then starts it.
            created = strategy_create(
                owner=obj.owner, data={name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
            )
            obj.pk, obj.is_active = created.pk, created.is_active
        else:
            obj.is_active = Strategy.objects.values_list("is_active", flat=True).get(pk=obj.pk)
            changed = {name: form.cleaned_data[name] for name in form.changed_data}
            strategy_update(
                strategy=obj, data={k: v for k, v in changed.items() if k in UPDATABLE_FIELDS}
            )
        if wants_active and not obj.is_active:
            strategy_start(strategy=obj)
        elif obj.is_active and not wants_active:
            strategy_stop(strategy=obj)

    def delete_model(self, request: HttpRequest, obj: Strategy) -> None:
        strategy_delete(strategy=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        for strategy in queryset:
            strategy_delete(strategy=strategy)

    @admin.action(description="Start selected strategies")
    def start_strategies(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, strategy_start, "started")

    @admin.action(description="Stop selected strategies")
    def stop_strategies(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, strategy_stop, "stopped")

    @admin.action(description="Run selected strategies now")
    def run_strategies_now(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, strategy_run_now, "queued to run now")

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Strategy], service: Any, done: str
    ) -> None:
        succeeded = []
        for strategy in queryset:
            try:
                service(strategy=strategy)
            except (StrategyError, ValidationError, SchedulerError) as error:
                self.message_user(request, f"{strategy}: {_reason(error)}", messages.ERROR)
            else:
                succeeded.append(str(strategy))
        if succeeded:
            self.message_user(request, f"{done}: {', '.join(succeeded)}", messages.SUCCESS)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)


@admin.register(StrategyRun)
class StrategyRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "strategy",
        "scheduled_tick",
        "trigger",
        "status",
        "signal",
        "reason",
        "error_class",
        "started_at",
        "finished_at",
        "unit",
    )
    list_filter = ("status", "trigger", "signal", "strategy__mode", "strategy__kind")
    list_select_related = ("strategy",)
    search_fields = ("strategy__name", "celery_task_id", "error_message")
    # No date_hierarchy: its year/month links scan every run. Pages count at most 10,001.
    paginator = CappedCountPaginator
    show_full_result_count = False
    inlines = (RunOrderInline,)

    @admin.display(description="unit of work", ordering="celery_task_id")
    def unit(self, run: StrategyRun) -> str:
        return unit_of_work(run)


@admin.register(Order)
class OrderAdmin(WideChangeListMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "client_order_id",
        "strategy",
        "mode",
        "side",
        market_column("amount", "amount"),
        market_column("average_price", "price", description="price"),
        market_column("fee", "money"),
        "status",
        "created_at",
    )
    list_filter = ("status", "side", "mode", "type")
    list_select_related = ("strategy", "strategy__market")
    search_fields = ("client_order_id", "exchange_order_id", "strategy__name")
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = ("run",)


@admin.register(PaperPosition)
class PaperPositionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Paper holdings, written by paper fills only; P&L is on the strategy page."""

    list_display = (
        "strategy",
        market_column("base_amount", "amount", description="base"),
        market_column("quote_balance", "money", description="quote"),
        market_column("average_entry_price", "price", description="average entry"),
        market_column("fees_paid", "money", description="fees"),
        "updated_at",
    )
    list_select_related = ("strategy", "strategy__market")
    search_fields = ("strategy__name",)
    paginator = CappedCountPaginator
    show_full_result_count = False


# Sweeps keep their admin in their own package; imported here so autodiscovery finds it.
import strategies.sweeps.admin  # noqa: E402, F401
