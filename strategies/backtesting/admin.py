"""Backtests in the admin: created and cancelled through the services, results read-only,
each linked to its page; from a strategy, one action backtests it over the last 30 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from strategies.backtesting.models import Backtest
from strategies.backtesting.services import (
    FIELDS,
    backtest_cancel,
    backtest_create,
    backtest_of_strategy,
)
from strategies.models import Strategy

RESULTS = (
    "page_link", "status", "stage", "progress_pct", "candles_done", "candles_total", "error",
    "figures", "refusals", "used_parameters", "trades_hash", "code_version", "ticks",
    "strategy", "celery_task_id", "created_at", "started_at", "finished_at",
)  # fmt: skip
BACKTEST_DAYS = 30


@admin.register(Backtest)
class BacktestAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "market", "timeframe", "start", "end", "status",
                    "progress_pct", "total_return", "owner", "page_link")  # fmt: skip
    list_filter = ("status", "kind", "timeframe")
    list_select_related = ("market__exchange", "owner")
    raw_id_fields = ("owner", "market", "strategy")
    readonly_fields = RESULTS
    actions = ("cancel_backtests",)

    def get_fields(self, request: HttpRequest, obj: Backtest | None = None) -> list[str]:
        return ["owner", *FIELDS] if obj is None else [*RESULTS, "owner", *FIELDS]

    def get_readonly_fields(self, request: HttpRequest, obj: Backtest | None = None) -> Any:
        return RESULTS if obj is None else (*RESULTS, "owner", *FIELDS)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        now = timezone.now().replace(second=0, microsecond=0)
        initial = {"owner": request.user.pk, "start": now - timedelta(days=BACKTEST_DAYS)}
        return {**initial, "end": now, **super().get_changeform_initial_data(request)}

    def save_model(
        self, request: HttpRequest, obj: Backtest, form: forms.ModelForm, change: bool
    ) -> None:
        """Created (and queued) by the service the API uses; nothing of it changes after."""
        if not change:
            data = {name: form.cleaned_data[name] for name in FIELDS}
            created = backtest_create(owner=obj.owner, data=data)
            obj.pk = created.pk

    def response_add(self, request: HttpRequest, obj: Backtest, *args: Any) -> Any:
        return redirect("strategies:backtest-page", pk=obj.pk)

    @admin.display(description="page")
    def page_link(self, backtest: Backtest) -> str:
        if backtest.pk is None:
            return "-"
        url = reverse("strategies:backtest-page", args=[backtest.pk])
        return format_html('<a href="{}">chart &amp; results</a>', url)

    @admin.display(description="return")
    def total_return(self, backtest: Backtest) -> str:
        value = (backtest.figures or {}).get("total_return_pct")
        return "-" if value is None else f"{value:.2f}%"

    @admin.action(description="Cancel selected backtests")
    def cancel_backtests(self, request: HttpRequest, queryset: QuerySet[Backtest]) -> None:
        for backtest in queryset:
            backtest_cancel(backtest=backtest)
        self.message_user(request, f"cancel asked of {queryset.count()} backtest(s)")


@admin.action(description=f"Backtest selected strategies over the last {BACKTEST_DAYS} days")
def backtest_strategies(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Strategy]
) -> None:
    end = timezone.now().replace(second=0, microsecond=0)
    period = {"start": end - timedelta(days=BACKTEST_DAYS), "end": end}
    for strategy in queryset:
        try:
            backtest = backtest_of_strategy(owner=request.user, strategy=strategy, data=period)
        except ValidationError as error:
            modeladmin.message_user(request, f"{strategy}: {error}", messages.ERROR)
            continue
        url = reverse("strategies:backtest-page", args=[backtest.pk])
        modeladmin.message_user(
            request,
            format_html('{}: <a href="{}">backtest {}</a> queued', strategy, url, backtest.pk),
        )
