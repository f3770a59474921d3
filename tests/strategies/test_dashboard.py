"""The front door: `/` lists every strategy's health, position, P&L and last run, staff only,
in a constant number of queries per page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strategies.models import Strategy, StrategyRun
from strategies.status import Health, strategy_health
from tests.factories import MarketFactory, StrategyFactory, UserFactory
from tests.strategies.scripted import scripted  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]
NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
GRACE = timedelta(seconds=60)


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("desk", is_staff=True))
    return client


def test_the_front_door_lists_a_strategys_health_position_and_pnl(
    staff: Client,
    scripted: Strategy,  # noqa: F811
) -> None:
    scripted.is_active = True
    scripted.save()

    response = staff.get("/", secure=True)

    html = response.content.decode()
    (row,) = response.context["rows"]
    assert row["strategy"] == scripted
    assert (row["position"], row["pnl"], row["pnl_class"]) == ("1", "49.44", "gain")
    assert row["last_run"].signal == "sell"
    assert f'href="/strategies/{scripted.pk}/"' in html
    assert "1 strategies</a>" in html
    assert "1 active</a>" in html


def test_the_admins_view_site_link_leads_to_the_dashboard(staff: Client) -> None:
    html = staff.get("/admin/", secure=True).content.decode()

    assert '<a href="/">View site</a>' in html


def test_the_dashboard_is_for_staff_only() -> None:
    client = Client()
    client.force_login(UserFactory(is_staff=False))

    response = client.get("/", secure=True)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def strategies_with_runs(count: int) -> None:
    market = MarketFactory()
    owner = UserFactory()
    now = timezone.now().replace(second=0, microsecond=0)
    for index in range(count):
        strategy = StrategyFactory(market=market, owner=owner, name=f"s{index}", is_active=True)
        StrategyRun.objects.create(
            strategy=strategy, scheduled_tick=now - timedelta(minutes=1), status="succeeded"
        )


def queries_of_a_page(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/", secure=True).status_code == 200
    return len(queries)


def test_a_page_costs_the_same_queries_for_3_or_60_strategies(staff: Client) -> None:
    strategies_with_runs(3)
    few = queries_of_a_page(staff)
    strategies_with_runs(57)

    many = queries_of_a_page(staff)

    assert many == few
    assert (
        many == 12
    )  # session, user, count, page, figures (4), last runs, totals, problems, admin apps


def test_the_dashboard_pages_a_hundred_strategies_at_a_time(staff: Client) -> None:
    strategies_with_runs(101)

    first = staff.get("/", secure=True)
    second = staff.get("/?page=2", secure=True)

    assert len(first.context["rows"]) == 100
    assert [row["strategy"].name for row in second.context["rows"]] == ["s99"]


def health(strategy: Strategy, *, tick_ago: timedelta | None, status: str = "succeeded") -> str:
    run = None
    if tick_ago is not None:
        run = StrategyRun(strategy=strategy, scheduled_tick=NOW - tick_ago, status=status)
    return strategy_health(strategy=strategy, last_run=run, now=NOW, grace=GRACE)


def test_health_reads_the_state_and_the_last_run_of_a_1m_strategy() -> None:
    minutely = StrategyFactory.build(interval_seconds=60, is_active=True)
    tick = timedelta(seconds=30)  # the 12:00:00 tick

    assert health(minutely, tick_ago=tick) == Health.OK
    assert health(minutely, tick_ago=tick, status="failed") == Health.FAILING
    assert health(minutely, tick_ago=tick, status="skipped") == Health.SKIPPED
    assert health(minutely, tick_ago=None) == Health.WAITING
    # The 11:59 tick's run: 12:00 is due, 30 s ago, within the grace.
    assert health(minutely, tick_ago=tick + timedelta(minutes=1)) == Health.OK
    # The 11:58 tick's run: 11:59 was due 90 s ago, past the grace.
    assert health(minutely, tick_ago=tick + timedelta(minutes=2)) == Health.LATE


def test_health_of_a_stopped_and_a_system_paused_strategy() -> None:
    stopped = StrategyFactory.build(is_active=False)
    paused = StrategyFactory.build(is_active=False, paused_reason="market delisted")

    assert health(stopped, tick_ago=timedelta(days=3)) == Health.STOPPED
    assert health(paused, tick_ago=timedelta(days=3)) == Health.PAUSED
