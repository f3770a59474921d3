"""The run and order admins (read-only lists with filters) and the strategy form's validation."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

from strategies.admin import RunOrderInline, StrategyAdminForm
from strategies.execution import strategy_execute
from strategies.models import Order, StrategyRun
from tests.factories import MarketFactory, StrategyFactory, UserFactory
from tests.strategies.helpers import add_candles, tick

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]


@pytest.fixture
def run() -> StrategyRun:
    market = MarketFactory()
    add_candles(market, [100])
    strategy = StrategyFactory(market=market, kind="dca", name="weekly dca")
    return strategy_execute(strategy_id=strategy.pk, scheduled_tick=tick())


def test_runs_list_filters_by_status(admin_client: Client, run: StrategyRun) -> None:
    shown = admin_client.get("/admin/strategies/strategyrun/", {"status__exact": "succeeded"})
    hidden = admin_client.get("/admin/strategies/strategyrun/", {"status__exact": "failed"})

    assert shown.status_code == 200
    assert "weekly dca" in shown.content.decode()
    assert "weekly dca" not in hidden.content.decode()


def test_orders_show_in_their_list_and_on_their_runs_page(
    admin_client: Client, run: StrategyRun
) -> None:
    order = Order.objects.get(run=run)

    response = admin_client.get("/admin/strategies/order/", {"side__exact": "buy"})
    run_page = admin_client.get(f"/admin/strategies/strategyrun/{run.pk}/change/")

    assert response.status_code == 200
    assert order.client_order_id in response.content.decode()
    assert run_page.status_code == 200
    assert order.client_order_id in run_page.content.decode()


def test_history_is_read_only_in_the_admin(admin_client: Client, run: StrategyRun) -> None:
    add = admin_client.get("/admin/strategies/strategyrun/add/")
    change = admin_client.post(
        f"/admin/strategies/strategyrun/{run.pk}/change/", {"status": "failed"}
    )

    run.refresh_from_db()
    assert add.status_code == 403
    assert change.status_code == 403
    assert run.status == StrategyRun.Status.SUCCEEDED


def test_the_run_page_inline_shows_its_orders_read_only(
    rf: RequestFactory, admin_user: object
) -> None:
    request = rf.get("/admin/")
    request.user = admin_user
    orders = RunOrderInline(StrategyRun, admin.site)

    assert (orders.model, orders.fk_name) == (Order, "run")
    assert not orders.has_add_permission(request, None)
    assert not orders.has_change_permission(request, None)
    assert orders.has_view_permission(request, None)


def test_the_strategy_form_puts_parameter_errors_on_the_field() -> None:
    market = MarketFactory()
    form = StrategyAdminForm(
        data={
            "owner": UserFactory().pk,
            "name": "fast sma",
            "market": market.pk,
            "timeframe": "1h",
            "kind": "sma_crossover",
            "parameters": '{"fast": 0}',
            "mode": "paper",
            "crontab_timezone": "UTC",
            "max_orders_per_day": 24,
        }
    )

    assert not form.is_valid()
    assert form.errors["parameters"] == ["fast: must be at least 1"]
    assert "SMA crossover: fast (integer, default 10)" in form.fields["parameters"].help_text


def test_the_strategy_form_offers_only_registered_kinds() -> None:
    form = StrategyAdminForm()

    choices = {value for value, _ in form.fields["kind"].choices}

    assert {"dca", "sma_crossover", "rsi_thresholds"} <= choices
    assert "martingale" not in choices
