"""Admin for strategies."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from strategies.engine.registry import get_strategy_class, strategy_choices
from strategies.models import Order, Strategy, StrategyRun

RUN_FIELDS = (
    "scheduled_tick",
    "status",
    "signal",
    "reason",
    "error_class",
    "error_message",
    "started_at",
    "finished_at",
)
ORDER_FIELDS = (
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
    """The strategy form: `Strategy.clean()` checks the parameters against the kind's schema
    and puts each message on the parameters field; the help text lists every schema."""

    class Meta:
        model = Strategy
        # is_active and paused_reason belong to the start/stop actions, not the form.
        fields = (
            "owner",
            "name",
            "account",
            "market",
            "timeframe",
            "kind",
            "parameters",
            "mode",
            "interval_seconds",
            "crontab",
            "crontab_timezone",
            "max_position",
            "max_orders_per_day",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "parameters" in self.fields:
            self.fields["parameters"].help_text = parameters_help()


def parameters_help() -> str:
    lines = []
    for key, display_name in strategy_choices():
        described = ", ".join(
            f"{name} ({spec['type']}, default {spec['default']})"
            for name, spec in get_strategy_class(key).schema().items()
        )
        lines.append(f"{display_name}: {described or 'no parameters'}")
    return "A JSON object; omitted parameters take their default. " + "; ".join(lines)


class StrategyRunInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = StrategyRun
    fields = RUN_FIELDS
    readonly_fields = RUN_FIELDS
    ordering = ("-scheduled_tick",)
    extra = 0
    show_change_link = True


class OrderInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Order
    fk_name = "strategy"
    fields = ORDER_FIELDS
    readonly_fields = ORDER_FIELDS
    extra = 0
    show_change_link = True


class RunOrderInline(OrderInline):
    """The orders of one run, on the run's page."""

    fk_name = "run"


@admin.register(StrategyRun)
class StrategyRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "strategy",
        "scheduled_tick",
        "status",
        "signal",
        "reason",
        "error_class",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "signal", "strategy__mode", "strategy__kind")
    list_select_related = ("strategy",)
    search_fields = ("strategy__name", "celery_task_id", "error_message")
    date_hierarchy = "scheduled_tick"
    inlines = (RunOrderInline,)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "client_order_id",
        "strategy",
        "mode",
        "side",
        "amount",
        "average_price",
        "fee",
        "status",
        "created_at",
    )
    list_filter = ("status", "side", "mode", "type")
    list_select_related = ("strategy", "strategy__market")
    search_fields = ("client_order_id", "exchange_order_id", "strategy__name")
    date_hierarchy = "created_at"
    readonly_fields = ("run",)
