"""The sweep page (staff only): progress, the top sets, the heatmap, the folds, promote a set."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from strategies.errors import StrategyError
from strategies.sweeps import pictures, selectors, services
from strategies.sweeps.models import Sweep


@staff_member_required
def sweep_page(request: HttpRequest, pk: int) -> HttpResponse:
    sweep = get_object_or_404(Sweep.objects.select_related("market__exchange"), pk=pk)
    axes = list(sweep.space)
    x = request.GET.get("x") if request.GET.get("x") in axes else axes[0]
    y_default = next((a for a in axes if a != x), x)
    y = request.GET.get("y") if request.GET.get("y") in axes else y_default
    folds = selectors.sweep_folds_report(sweep=sweep)
    title = f"{sweep.get_objective_display()} over {x} and {y}"
    context = {
        **admin.site.each_context(request),
        "sweep": sweep,
        "progress": selectors.sweep_progress(sweep=sweep),
        "axes": axes,
        "x": x,
        "y": y,
        "heatmap": mark_safe(  # noqa: S308 - our own SVG, every text in it escaped
            pictures.heatmap_svg(selectors.sweep_heatmap(sweep=sweep, x=x, y=y), title=title)
        ),
        "top": _top_rows(sweep),
        "folds": folds,
        "folds_chart": mark_safe(  # noqa: S308 - our own SVG, every text in it escaped
            pictures.folds_svg(folds, title="In-sample best and out-of-sample, per fold")
        ),
        "flagged": [f for f in folds if f.verdict is not None and f.verdict.overfitted],
        "title": f"Sweep {sweep.name}",
    }
    return render(request, "sweeps/sweep_page.html", context)


def _top_rows(sweep: Sweep) -> list[dict[str, Any]]:
    rows = []
    for sweep_set in selectors.sweep_top(sweep=sweep):
        overfitted, fold = selectors.set_overfitted(sweep=sweep, sweep_set=sweep_set)
        rows.append({"set": sweep_set, "overfitted": overfitted, "fold": fold})
    return rows


@staff_member_required
@require_POST
def sweep_promote_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Promote the posted set; a flagged one only with the confirmation box ticked."""
    sweep = get_object_or_404(Sweep, pk=pk)
    sweep_set = get_object_or_404(sweep.sets, pk=request.POST.get("set", "0"))
    try:
        promotion = services.sweep_promote(
            sweep=sweep,
            sweep_set=sweep_set,
            owner=request.user,
            name=request.POST.get("name", "").strip() or f"{sweep.name} #{sweep_set.pk}",
            confirm_overfitted=request.POST.get("confirm_overfitted") == "on",
        )
    except (ValidationError, StrategyError) as error:
        for text in getattr(error, "messages", [str(error)]):
            messages.error(request, text)
        return redirect("sweeps:page", pk=sweep.pk)
    messages.success(request, f"Paper strategy {promotion.strategy.name!r} created (stopped).")
    return redirect("strategies:page", pk=promotion.strategy_id)


@staff_member_required
@require_POST
def sweep_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    sweep = get_object_or_404(Sweep, pk=pk)
    try:
        services.sweep_cancel(sweep=sweep)
    except StrategyError as error:
        messages.error(request, str(error))
    return redirect("sweeps:page", pk=sweep.pk)
