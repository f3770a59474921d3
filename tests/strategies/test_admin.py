"""The strategy admin shows the next run and changes strategies only through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from project.kernel.scheduling import CrontabTrigger, IntervalTrigger, Scheduler
from strategies.models import Strategy
from strategies.services import strategy_start
from tests.factories import StrategyFactory

pytestmark = pytest.mark.usefixtures("plain_static_files")

CHANGELIST = "/admin/strategies/strategy/"


@pytest.fixture
def admin_client(transactional_db: None) -> Client:
    client = Client()
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-long-123")
    client.force_login(user)
    return client


def test_change_page_shows_the_next_run_from_the_scheduler(
    use_backend: Scheduler, admin_client: Client
) -> None:
    strategy = strategy_start(strategy=StrategyFactory(name="breakout", timeframe="1h"))
    next_run = use_backend.get_job(strategy.job_id).next_run_at

    response = admin_client.get(f"{CHANGELIST}{strategy.pk}/change/", secure=True)

    assert response.status_code == 200
    assert "breakout" in response.text
    assert f"{next_run:%Y-%m-%d %H:%M:%S}" in response.text


def test_start_and_stop_actions_create_and_remove_jobs(
    use_backend: Scheduler, admin_client: Client
) -> None:
    strategies = [StrategyFactory(), StrategyFactory()]
    ids = [str(s.pk) for s in strategies]

    admin_client.post(
        CHANGELIST, {"action": "start_strategies", "_selected_action": ids}, secure=True
    )
    started = [use_backend.get_job(s.job_id) is not None for s in strategies]
    admin_client.post(
        CHANGELIST, {"action": "stop_strategies", "_selected_action": ids[:1]}, secure=True
    )

    assert started == [True, True]
    assert use_backend.get_job(strategies[0].job_id) is None
    assert use_backend.get_job(strategies[1].job_id) is not None
    assert list(Strategy.objects.order_by("pk").values_list("is_active", flat=True)) == [
        False,
        True,
    ]


def test_run_now_of_a_stopped_strategy_reports_the_reason(
    use_backend: Scheduler, admin_client: Client
) -> None:
    strategy = StrategyFactory(name="idle", is_active=False)

    response = admin_client.post(
        CHANGELIST,
        {"action": "run_strategies_now", "_selected_action": [strategy.pk]},
        secure=True,
        follow=True,
    )

    assert "strategy &#x27;idle&#x27; is stopped: start it first" in response.text


def test_change_form_re_times_an_active_strategy_through_the_services(
    use_backend: Scheduler, admin_client: Client
) -> None:
    strategy = strategy_start(strategy=StrategyFactory(timeframe="1h"))

    response = admin_client.post(
        f"{CHANGELIST}{strategy.pk}/change/",
        _form_data(strategy, crontab="*/30 * * * *", crontab_timezone="Europe/Paris"),
        secure=True,
    )

    assert response.status_code == 302, response.text[-2000:]
    assert use_backend.get_job(strategy.job_id).trigger == CrontabTrigger.parse(
        "*/30 * * * *", "Europe/Paris"
    )


def test_change_form_refuses_a_bad_crontab(use_backend: Scheduler, admin_client: Client) -> None:
    strategy = strategy_start(strategy=StrategyFactory(timeframe="1h"))

    response = admin_client.post(
        f"{CHANGELIST}{strategy.pk}/change/",
        _form_data(strategy, crontab="every now and then"),
        secure=True,
    )

    assert response.status_code == 200
    assert "five fields" in response.text
    assert use_backend.get_job(strategy.job_id).trigger == IntervalTrigger(3600)


def test_adding_an_active_strategy_in_the_admin_schedules_it(
    use_backend: Scheduler, admin_client: Client
) -> None:
    template = StrategyFactory(name="template")

    response = admin_client.post(
        f"{CHANGELIST}add/", _form_data(template, name="fresh", interval_seconds=120), secure=True
    )

    created = Strategy.objects.get(name="fresh")
    assert response.status_code == 302, response.text[-2000:]
    assert created.is_active is True
    assert use_backend.get_job(created.job_id).trigger == IntervalTrigger(120)


def _form_data(strategy: Strategy, **changes: object) -> dict[str, object]:
    data = {
        "owner": strategy.owner_id,
        "name": strategy.name,
        "account": "",
        "market": strategy.market_id,
        "timeframe": strategy.timeframe,
        "kind": strategy.kind,
        "parameters": "{}",
        "interval_seconds": strategy.interval_seconds or "",
        "crontab": strategy.crontab,
        "crontab_timezone": strategy.crontab_timezone,
        "mode": strategy.mode,
        "is_active": "on",
        "max_position": "",
        "max_orders_per_day": strategy.max_orders_per_day or "",
    }
    data.update(changes)
    return data


def test_the_admin_adds_a_strategy_with_no_orders_per_day_cap(
    use_backend: Scheduler, admin_client: Client
) -> None:
    template = StrategyFactory(name="template")

    data = _form_data(template, name="uncapped", max_orders_per_day="")

    response = admin_client.post(f"{CHANGELIST}add/", data, secure=True)

    assert response.status_code == 302, response.text[-2000:]
    assert Strategy.objects.get(name="uncapped").max_orders_per_day is None
