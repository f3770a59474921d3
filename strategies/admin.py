"""Admin for strategies: every change goes through the lifecycle services, never the scheduler."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from project.scheduling import CrontabTrigger, InvalidTrigger, SchedulerError, get_scheduler
from strategies.models import Strategy
from strategies.services import (
    UPDATABLE_FIELDS,
    StrategyError,
    strategy_delete,
    strategy_run_now,
    strategy_start,
    strategy_stop,
    strategy_update,
)


class StrategyAdminForm(forms.ModelForm):
    class Meta:
        model = Strategy
        fields = (
            "owner",
            "name",
            "account",
            "market",
            "timeframe",
            "kind",
            "parameters",
            "interval_seconds",
            "crontab",
            "crontab_timezone",
            "mode",
            "is_active",
            "max_position",
            "max_orders_per_day",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("crontab"):
            try:
                CrontabTrigger.parse(data["crontab"], data.get("crontab_timezone") or "UTC")
            except InvalidTrigger as error:
                raise ValidationError({"crontab": str(error)}) from None
        return data


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    form = StrategyAdminForm
    list_display = ("name", "kind", "market", "mode", "is_active", "next_run", "paused_reason")
    list_filter = ("is_active", "mode", "kind")
    search_fields = ("name", "owner__username", "market__symbol")
    list_select_related = ("market",)
    readonly_fields = ("next_run", "paused_reason", "created_at", "updated_at")
    actions = ("start_strategies", "stop_strategies", "run_strategies_now")

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
        return (
            job.next_run_at.isoformat(sep=" ", timespec="seconds") if job.next_run_at else "paused"
        )

    def save_model(
        self, request: HttpRequest, obj: Strategy, form: forms.ModelForm, change: bool
    ) -> None:
        wants_active = obj.is_active
        if not change:
            obj.is_active = False
            obj.save()
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
