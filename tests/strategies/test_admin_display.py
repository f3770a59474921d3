"""The strategy admin fits the data: plain decimals, one date format, the owner preset, the
chosen kind's help, errors on their field, the latest history with links, cheap list pages."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strategies import admin_display
from strategies.admin_display import CappedCountPaginator
from strategies.models import Order, PaperPosition, StrategyRun
from tests.factories import StrategyFactory
from tests.strategies.helpers import add_candles
from tests.strategies.markets import btc_usd_market, order_with_twelve_places
from tests.strategies.scripted import START, script_fills

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]
ADMIN = "/admin/strategies/"


@pytest.fixture
def boss() -> Client:
    client = Client()
    user = get_user_model().objects.create_superuser("chief", "chief@example.com", "pw-long-123")
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


def add_runs(strategy: object, count: int) -> list[StrategyRun]:
    now = timezone.now().replace(second=0, microsecond=0)
    return StrategyRun.objects.bulk_create(
        StrategyRun(
            strategy=strategy, scheduled_tick=now - timedelta(minutes=n), status="succeeded"
        )
        for n in range(count)
    )


def test_the_strategy_list_asks_no_scheduler_and_shows_the_next_run_in_the_one_format(
    boss: Client, settings: object
) -> None:
    StrategyFactory(name="minutely", interval_seconds=60)
    settings.SCHEDULER_BACKEND = "no.such.Scheduler"  # type: ignore[attr-defined]

    html = boss.get(f"{ADMIN}strategy/", secure=True).content.decode()

    next_minute = (timezone.now() + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    assert "minutely" in html
    assert next_minute in html or timezone.now().strftime("%Y-%m-%d %H:%M") in html
    assert "chart &amp; performance" in html


def test_order_and_position_lists_show_decimals_without_padding(boss: Client) -> None:
    strategy = StrategyFactory()
    run = add_runs(strategy, 1)[0]
    Order.objects.create(
        strategy=strategy,
        run=run,
        mode="paper",
        side="buy",
        amount=Decimal("0.5"),
        average_price=Decimal("57527.66"),
        client_order_id="c-1",
    )
    PaperPosition.objects.create(strategy=strategy, quote_balance=Decimal("9971.23"))

    orders = boss.get(f"{ADMIN}order/", secure=True).content.decode()
    positions = boss.get(f"{ADMIN}paperposition/", secure=True).content.decode()

    assert "57527.66<" in orders
    assert "57527.660000000000" not in orders
    assert "9971.23<" in positions
    assert "9971.230000000000" not in positions


def test_the_add_form_presets_the_owner_to_the_user(boss: Client) -> None:
    response = boss.get(f"{ADMIN}strategy/add/", secure=True)

    assert response.context["adminform"].form.initial["owner"] == boss.user.pk  # type: ignore[attr-defined]


def test_the_change_form_helps_with_the_chosen_kind_only(boss: Client) -> None:
    strategy = StrategyFactory(kind="sma_crossover")

    form = boss.get(f"{ADMIN}strategy/{strategy.pk}/change/", secure=True).context["adminform"].form
    help_text = form.fields["parameters"].help_text

    assert "SMA crossover: fast" in help_text
    assert "DCA" not in help_text
    assert "strategy-form.js" in str(form.media)


def test_a_bad_time_zone_is_reported_on_the_time_zone_field(boss: Client) -> None:
    strategy = StrategyFactory()
    data = {
        "owner": strategy.owner_id,
        "name": strategy.name,
        "market": strategy.market_id,
        "timeframe": "1h",
        "kind": "dca",
        "parameters": "{}",
        "crontab": "*/5 * * * *",
        "crontab_timezone": "Mars/Olympus",
        "mode": "paper",
        "max_orders_per_day": 24,
    }

    response = boss.post(f"{ADMIN}strategy/{strategy.pk}/change/", data, secure=True)

    errors = response.context["adminform"].form.errors
    assert errors["crontab_timezone"] == ["unknown time zone 'Mars/Olympus'"]
    assert "crontab" not in errors


def test_the_change_page_shows_the_latest_runs_with_a_link_to_all(boss: Client) -> None:
    strategy = StrategyFactory()
    runs = add_runs(strategy, admin_display.RECENT + 5)

    html = boss.get(f"{ADMIN}strategy/{strategy.pk}/change/", secure=True).content.decode()
    listed = boss.get(f"{ADMIN}strategyrun/?strategy__id__exact={strategy.pk}", secure=True)

    assert len(re.findall(r"/admin/strategies/strategyrun/\d+/change/", html)) == 10
    assert f"/admin/strategies/strategyrun/{runs[0].pk}/change/" in html
    assert f"/admin/strategies/strategyrun/{runs[-1].pk}/change/" not in html
    assert f"?strategy__id__exact={strategy.pk}" in html
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == len(runs)


def test_list_counts_stop_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_display, "COUNT_CAP", 5)
    add_runs(StrategyFactory(), 8)

    paginator = CappedCountPaginator(StrategyRun.objects.order_by("id"), 2)

    assert paginator.count == 6
    assert len(paginator.page(3).object_list) == 2


def test_the_strategy_list_costs_the_same_queries_for_few_or_many_rows(boss: Client) -> None:
    def queries_for_list() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            html = boss.get(f"{ADMIN}strategy/", secure=True).content.decode()
        return len(captured), html

    failing = StrategyFactory()
    StrategyRun.objects.create(strategy=failing, scheduled_tick=timezone.now(), status="failed")
    few, html = queries_for_list()
    for strategy in StrategyFactory.create_batch(12):
        add_runs(strategy, 2)
    many, _ = queries_for_list()

    assert "Failed" in html
    assert many == few


def test_the_strategy_list_shows_each_strategys_position_and_pnl(boss: Client) -> None:

    strategy = StrategyFactory(name="scripted", timeframe="1h")
    script_fills(strategy)
    PaperPosition.objects.create(strategy=strategy, base_amount=1, quote_balance=Decimal("9899.44"))
    add_candles(strategy.market, [150], ended_at=START + timedelta(hours=6))

    html = boss.get(f"{ADMIN}strategy/", secure=True).content.decode()

    assert re.search(r'<td class="field-position">1</td>\s*<td class="field-pnl">49.44</td>', html)


def test_the_admin_lists_money_in_its_currencys_places(boss: Client) -> None:
    strategy = StrategyFactory(market=btc_usd_market(), kind="dca")
    order_with_twelve_places(strategy)
    PaperPosition.objects.create(strategy=strategy, quote_balance=Decimal("9499.500000065047"))

    orders = boss.get("/admin/strategies/order/", secure=True).content.decode()
    positions = boss.get("/admin/strategies/paperposition/", secure=True).content.decode()

    assert ">0.10<" in orders
    assert "0.099999999981" not in orders
    assert ">59755.40<" in orders
    assert ">9499.50<" in positions
    assert "9499.500000065047" not in positions
