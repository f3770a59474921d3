"""Admin for sweeps: created through the service (validated, planned, sent), read-only after."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from strategies.errors import StrategyError
from strategies.sweeps import selectors, services
from strategies.sweeps.models import SWEEP_DEFINITION as DEFINITION
from strategies.sweeps.models import Sweep, SweepPromotion, SweepSet


class SweepAdminForm(forms.ModelForm):
    class Meta:
        model = Sweep
        fields = DEFINITION

    def clean(self) -> dict[str, Any]:
        """The service's own checks (the kind's schema on the space, the folds), by field."""
        cleaned = super().clean()
        if not self.errors:
            candidate = Sweep(**{name: cleaned.get(name) for name in DEFINITION})
            for field, errors in services.sweep_errors(candidate).items():
                self.add_error(field if field in DEFINITION else None, errors)
        return cleaned


@admin.register(Sweep)
class SweepAdmin(admin.ModelAdmin):
    form = SweepAdminForm
    list_display = ("name", "kind", "market", "search", "objective", "status", "progress", "page")
    list_filter = ("status", "search", "kind")
    actions = ("cancel", "resume")

    def get_readonly_fields(self, request: HttpRequest, obj: Sweep | None = None) -> Any:
        if obj is None:
            return ()
        return (*DEFINITION, "status", "error", "study_name", "finished_at")

    def save_model(self, request: HttpRequest, obj: Sweep, form: Any, change: bool) -> None:
        if change:
            return  # read-only once created: a different sweep is a new sweep
        data = {name: form.cleaned_data[name] for name in DEFINITION}
        created = services.sweep_create(owner=request.user, data=data)
        obj.pk = created.pk

    @admin.display(description="progress")
    def progress(self, sweep: Sweep) -> str:
        progress = selectors.sweep_progress(sweep=sweep)
        return f"{progress.done}/{progress.planned} ({progress.percent} %)"

    @admin.display(description="results")
    def page(self, sweep: Sweep) -> str:
        return format_html(
            '<a href="{}">heatmap &amp; folds</a>', reverse("sweeps:page", args=[sweep.pk])
        )

    @admin.action(description="Cancel selected sweeps")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Sweep]) -> None:
        for sweep in queryset:
            try:
                services.sweep_cancel(sweep=sweep)
            except StrategyError as error:
                messages.warning(request, f"{sweep}: {error}")

    @admin.action(description="Resume every running sweep (re-send the work it lost)")
    def resume(self, request: HttpRequest, queryset: QuerySet[Sweep]) -> None:
        resumed = services.sweeps_resume()
        messages.info(request, f"re-sent lost work of {len(resumed)} running sweep(s)")


@admin.register(SweepSet)
class SweepSetAdmin(admin.ModelAdmin):
    list_display = ("sweep", "window", "parameters", "value", "ranked", "evaluations", "done_at")
    list_filter = ("window", "ranked")
    readonly_fields = [f.name for f in SweepSet._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SweepPromotion)
class SweepPromotionAdmin(admin.ModelAdmin):
    list_display = ("strategy", "sweep", "sweep_set", "fold", "overfitted", "created_at")
    readonly_fields = ("strategy", "sweep", "sweep_set", "fold", "overfitted", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
