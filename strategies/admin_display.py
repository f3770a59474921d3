"""What the strategy admin pages show: plain decimals, one date format, the latest history,
parameter inputs for the chosen kind, and page counts that stay cheap at millions of rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from strategies.engine import get_strategy_class, strategy_choices
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.ordering import MarketRules, shown
from strategies.serializers import StrategyKindSerializer
from strategies.status import strategies_last_runs

RECENT = 10
COUNT_CAP = 10_000


def when(moment: Any) -> str:
    """A date and time in the site's one format (DATETIME_FORMAT), '-' for none."""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment else "-"


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: a list of millions of runs never counts them all."""

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            return self.object_list[: COUNT_CAP + 1].count()
        return len(self.object_list)


class StrategyChangeList(ChangeList):
    """Each listed strategy's last run status, in one query for the page shown: a subquery per
    row would run for every strategy before the sort, 100,000 times."""

    def get_results(self, request: Any) -> None:
        super().get_results(request)
        self.result_list = list(self.result_list)
        last = strategies_last_runs(strategy_ids=[strategy.pk for strategy in self.result_list])
        for strategy in self.result_list:
            run = last.get(strategy.pk)
            strategy.last_run_status = run.get_status_display() if run else "-"


def market_column(name: str, what: str, *, description: str | None = None) -> Callable[[Any], str]:
    """An admin list column of an order's or a position's number in its market's precision
    (`strategies.ordering.shown`: `what` is amount, price or money); select the market."""

    @admin.display(description=description or name.replace("_", " "), ordering=name)
    def column(obj: Order | PaperPosition) -> str:
        rules = MarketRules.from_market(obj.strategy.market)
        return shown(rules, getattr(obj, name), what) or "-"

    column.__name__ = f"{name}_shown"
    return column


def recent_runs(strategy: Strategy) -> SafeString:
    """The newest runs as a small table, with a link to all of them in the runs list."""
    if strategy.pk is None:
        return format_html("{}", "-")
    runs = StrategyRun.objects.filter(strategy=strategy).order_by("-scheduled_tick")[:RECENT]
    rows = [
        (
            reverse("admin:strategies_strategyrun_change", args=[run.pk]),
            when(run.scheduled_tick),
            run.get_trigger_display(),
            run.get_status_display(),
            run.signal or "-",
            run.reason or run.error_message or "",
        )
        for run in runs
    ]
    headers = ("tick", "trigger", "status", "signal", "reason")
    return _table(
        headers,
        rows,
        link=reverse("admin:strategies_strategyrun_changelist")
        + f"?strategy__id__exact={strategy.pk}",
        what="runs",
    )


def recent_orders(strategy: Strategy) -> SafeString:
    """The newest orders as a small table, with a link to all of them in the orders list."""
    if strategy.pk is None:
        return format_html("{}", "-")
    orders = Order.objects.filter(strategy=strategy).order_by("-created_at")[:RECENT]
    rules = MarketRules.from_market(strategy.market)
    rows = [
        (
            reverse("admin:strategies_order_change", args=[order.pk]),
            when(order.created_at),
            order.side,
            shown(rules, order.amount, "amount"),
            shown(rules, order.average_price, "price") or "-",
            order.get_status_display(),
        )
        for order in orders
    ]
    return _table(
        ("created", "side", "amount", "price", "status"),
        rows,
        link=reverse("admin:strategies_order_changelist") + f"?strategy__id__exact={strategy.pk}",
        what="orders",
    )


def _table(
    headers: tuple[str, ...], rows: list[tuple[Any, ...]], *, link: str, what: str
) -> SafeString:
    if not rows:
        return format_html("No {} yet.", what)
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    body = format_html_join(
        "",
        "<tr><td><a href='{}'>{}</a></td>" + "<td>{}</td>" * (len(headers) - 1) + "</tr>",
        rows,
    )
    return format_html(
        "<table class='recent-{}'><thead><tr>{}</tr></thead><tbody>{}</tbody></table>"
        "<p><a href='{}'>All {} of this strategy &rarr;</a></p>",
        what,
        head,
        body,
        link,
        what,
    )


def kinds_schema() -> list[dict[str, Any]]:
    """The registered kinds as /api/strategy-kinds/ describes them (the same serializer)."""
    kinds = [get_strategy_class(key) for key, _ in strategy_choices()]
    return list(StrategyKindSerializer(kinds, many=True).data)


class ParametersWidget(forms.Textarea):
    """The parameters JSON, with inputs and help for the chosen kind's schema drawn by
    strategy-form.js; without JavaScript the JSON text area still works."""

    template_name = "strategies/parameters_widget.html"

    class Media:
        js = ("strategies/strategy-form.js",)
        css = {"all": ("strategies/strategy-form.css",)}

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["kinds_json"] = json.dumps(kinds_schema())
        return context
