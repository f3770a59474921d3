"""/api/strategies/ and /api/strategy-kinds/: every change goes through the lifecycle services
(the scheduler job follows), users reach only their own strategies, bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from project.kernel.scheduling import IntervalTrigger, JobRecord, get_scheduler
from strategies.models import Order, Strategy, StrategyRun
from strategies.services import DUPLICATE_NAME, strategy_start
from tests.factories import ExchangeAccountFactory, MarketFactory, StrategyFactory

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser

    from marketdata.models import Market
    from tests.processes import ManagedProcess

pytestmark = pytest.mark.django_db


def job(strategy: Strategy) -> JobRecord | None:
    return get_scheduler().get_job(strategy.job_id)


def body(market: Market, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "buy the dip",
        "market": market.pk,
        "timeframe": "1h",
        "kind": "sma_crossover",
        "parameters": {"fast": 5, "slow": 20},
    }
    data.update(changes)
    return data


def add_runs(strategy: Strategy, statuses: list[str]) -> list[StrategyRun]:
    """Finished runs, one per hour back from now, the first status the newest; one order each."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    runs = []
    for hours_ago, status in enumerate(statuses):
        run = StrategyRun.objects.create(
            strategy=strategy,
            scheduled_tick=now - timedelta(hours=hours_ago),
            status=status,
            finished_at=now,
        )
        order = Order.objects.create(
            strategy=strategy,
            run=run,
            mode=strategy.mode,
            side=Order.Side.BUY,
            amount=Decimal(1),
            status=Order.Status.FILLED if status == "succeeded" else Order.Status.REJECTED,
            client_order_id=f"{strategy.pk}-{hours_ago}",
        )
        Order.objects.filter(pk=order.pk).update(created_at=run.scheduled_tick)
        runs.append(run)
    return runs


# --- CRUD ------------------------------------------------------------------------------------


def test_create_makes_a_stopped_strategy_of_the_user_without_a_job(
    api: APIClient, user: AbstractUser
) -> None:
    market = MarketFactory()

    response = api.post("/api/strategies/", body(market, is_active=True), format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["owner"] == user.username
    assert created["is_active"] is False
    assert created["parameters"] == {"fast": 5, "slow": 20}
    strategy = Strategy.objects.get(pk=created["id"])
    assert (strategy.owner, strategy.is_active) == (user, False)
    assert job(strategy) is None


def test_list_shows_only_the_users_strategies_with_filters(
    api: APIClient, user: AbstractUser
) -> None:
    market, other_market = MarketFactory(), MarketFactory()
    dca = StrategyFactory(owner=user, market=market, kind="dca", is_active=False)
    strategy_start(strategy=dca)
    StrategyFactory(owner=user, market=other_market, kind="sma_crossover", is_active=False)
    StrategyFactory(market=market, kind="dca", is_active=False)  # another user's

    def names(query: str) -> list[str]:
        response = api.get(f"/api/strategies/{query}")
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["results"])

    assert len(names("")) == 2
    assert names("?is_active=true") == [dca.pk]
    assert names("?kind=dca") == [dca.pk]
    assert names(f"?market={market.pk}") == [dca.pk]
    assert names("?mode=live") == []
    assert api.get("/api/strategies/?market=abc").json() == {
        "market": ["A valid integer is required."]
    }


def test_update_goes_through_the_service_and_retimes_an_active_job(
    api: APIClient, user: AbstractUser
) -> None:
    strategy = strategy_start(strategy=StrategyFactory(owner=user, timeframe="1h"))
    url = f"/api/strategies/{strategy.pk}/"

    patched = api.patch(url, {"interval_seconds": 600, "is_active": False}, format="json")
    put = api.put(url, body(strategy.market, name="renamed", interval_seconds=600), format="json")

    assert (patched.status_code, put.status_code) == (200, 200), put.content
    assert put.json()["is_active"] is True  # read-only: only stop deactivates
    strategy.refresh_from_db()
    assert (strategy.name, strategy.kind, strategy.interval_seconds) == (
        "renamed",
        "sma_crossover",
        600,
    )
    assert job(strategy).trigger == IntervalTrigger(600)


def test_delete_removes_the_strategy_and_its_job(api: APIClient, user: AbstractUser) -> None:
    strategy = strategy_start(strategy=StrategyFactory(owner=user))
    add_runs(strategy, ["succeeded"])

    response = api.delete(f"/api/strategies/{strategy.pk}/")

    assert response.status_code == 204
    assert not Strategy.objects.filter(pk=strategy.pk).exists()
    assert job(strategy) is None


# --- Validation: 400 by field, nothing saved -------------------------------------------------


def test_invalid_parameters_are_400_per_parameter_and_change_nothing(
    api: APIClient, user: AbstractUser
) -> None:
    strategy = strategy_start(
        strategy=StrategyFactory(owner=user, kind="sma_crossover", parameters={"fast": 3})
    )
    before = job(strategy)

    bad_values = api.patch(
        f"/api/strategies/{strategy.pk}/",
        {"parameters": {"fast": 0, "slow": "many", "bogus": 1}, "interval_seconds": 600},
        format="json",
    )
    crossing = api.patch(
        f"/api/strategies/{strategy.pk}/", {"parameters": {"fast": 30, "slow": 20}}, format="json"
    )
    new_kind = api.patch(f"/api/strategies/{strategy.pk}/", {"kind": "dca"}, format="json")
    not_an_object = api.post(
        "/api/strategies/", body(MarketFactory(), parameters=[1]), format="json"
    )

    assert bad_values.status_code == 400
    assert bad_values.json() == {
        "parameters": {
            "bogus": ["unknown parameter (known: fast, quote_amount, slow)"],
            "fast": ["must be at least 1"],
            "slow": ["must be a whole number"],
        }
    }
    assert crossing.json() == {"parameters": {"fast": ["must be less than slow"]}}
    assert new_kind.json() == {"parameters": {"fast": ["unknown parameter (known: quote_amount)"]}}
    assert list(not_an_object.json()) == ["parameters"]
    strategy.refresh_from_db()
    assert (strategy.kind, strategy.parameters, strategy.interval_seconds) == (
        "sma_crossover",
        {"fast": 3},
        None,
    )
    assert job(strategy) == before
    assert Strategy.objects.count() == 1


def test_bad_triggers_are_400_by_field_and_leave_the_job_alone(
    api: APIClient, user: AbstractUser
) -> None:
    strategy = strategy_start(strategy=StrategyFactory(owner=user))
    before = job(strategy)
    url = f"/api/strategies/{strategy.pk}/"

    bad_crontab = api.patch(url, {"crontab": "every tuesday"}, format="json")
    bad_zone = api.patch(
        url, {"crontab": "0 * * * *", "crontab_timezone": "Mars/Olympus"}, format="json"
    )
    too_often = api.patch(url, {"interval_seconds": 5}, format="json")

    assert bad_crontab.status_code == bad_zone.status_code == too_often.status_code == 400
    assert list(bad_crontab.json()) == ["crontab"]
    assert list(bad_zone.json()) == ["crontab_timezone"]
    assert list(too_often.json()) == ["interval_seconds"]
    strategy.refresh_from_db()
    assert (strategy.crontab, strategy.interval_seconds) == ("", None)
    assert job(strategy) == before


def test_rules_the_service_checks_are_400_by_field_and_save_nothing(
    api: APIClient, user: AbstractUser
) -> None:
    market = MarketFactory()
    StrategyFactory(owner=user, name="taken")
    strategy = strategy_start(strategy=StrategyFactory(owner=user, name="mine", market=market))
    before = job(strategy)

    duplicate = api.post("/api/strategies/", body(market, name="taken"), format="json")
    live_without_account = api.patch(
        f"/api/strategies/{strategy.pk}/", {"mode": "live", "name": "renamed"}, format="json"
    )

    assert duplicate.status_code == 400
    assert duplicate.json() == {"name": [DUPLICATE_NAME]}
    assert live_without_account.status_code == 400
    assert live_without_account.json() == {"account": ["live trading needs an exchange account"]}
    strategy.refresh_from_db()
    assert (strategy.name, strategy.mode) == ("mine", "paper")
    assert job(strategy) == before
    assert Strategy.objects.count() == 2


def test_the_account_must_be_the_users_own_on_the_markets_exchange(
    api: APIClient, user: AbstractUser, other_user: AbstractUser
) -> None:
    market = MarketFactory()
    theirs = ExchangeAccountFactory(owner=other_user, exchange=market.exchange)
    elsewhere = ExchangeAccountFactory(owner=user)
    mine = ExchangeAccountFactory(owner=user, exchange=market.exchange)

    def create(account: int, name: str) -> Any:
        return api.post(
            "/api/strategies/", body(market, name=name, mode="live", account=account), format="json"
        )

    stolen = create(theirs.pk, "a")
    wrong_exchange = create(elsewhere.pk, "b")
    live = create(mine.pk, "c")

    assert stolen.status_code == 400
    assert list(stolen.json()) == ["account"]
    assert wrong_exchange.status_code == 400
    assert wrong_exchange.json() == {
        "account": [f"must be an account on {market.exchange.name}, the market's exchange"]
    }
    assert live.status_code == 201, live.content
    assert list(Strategy.objects.values_list("name", "account")) == [("c", mine.pk)]


# --- Lifecycle actions -----------------------------------------------------------------------


def test_start_and_stop_create_and_remove_the_job(api: APIClient, user: AbstractUser) -> None:
    strategy = StrategyFactory(owner=user, timeframe="15m", paused_reason="market delisted")
    url = f"/api/strategies/{strategy.pk}"

    started = api.post(f"{url}/start/")
    job_after_start = job(strategy)
    stopped = api.post(f"{url}/stop/")

    assert started.status_code == 200
    assert (started.json()["is_active"], started.json()["paused_reason"]) == (True, "")
    assert job_after_start is not None
    assert job_after_start.trigger == IntervalTrigger(900)
    assert job_after_start.args == (strategy.pk,)
    assert stopped.status_code == 200
    assert stopped.json()["is_active"] is False
    assert job(strategy) is None
    strategy.refresh_from_db()
    assert strategy.is_active is False


def test_run_now_of_a_stopped_strategy_is_409_and_sends_nothing(
    api: APIClient, user: AbstractUser
) -> None:
    strategy = StrategyFactory(owner=user, name="idle", is_active=False)

    response = api.post(f"/api/strategies/{strategy.pk}/run-now/")

    assert response.status_code == 409
    assert response.json() == {"detail": "strategy 'idle' is stopped: start it first"}
    assert job(strategy) is None


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_run_now_returns_the_task_and_a_real_worker_records_a_run(
    celery_worker: ManagedProcess, api: APIClient, user: AbstractUser
) -> None:
    from tests.processes import wait_for
    from tests.strategies.helpers import add_candles

    market = MarketFactory()
    add_candles(market, [100, 101, 102])
    strategy = StrategyFactory(owner=user, market=market, kind="dca")
    api.post(f"/api/strategies/{strategy.pk}/start/")

    response = api.post(f"/api/strategies/{strategy.pk}/run-now/")

    assert response.status_code == 202
    task_id = response.json()["task_id"]
    assert task_id.startswith(f"{strategy.job_id}@now-")  # Flower shows which strategy it runs
    run = wait_for(
        lambda: StrategyRun.objects.filter(strategy=strategy, finished_at__isnull=False).first(),
        what="the run-now run to finish",
    )
    assert run.status == StrategyRun.Status.SUCCEEDED
    assert run.celery_task_id == task_id
    runs = api.get(f"/api/strategies/{strategy.pk}/runs/").json()["results"]
    assert [row["id"] for row in runs] == [run.pk]
    assert len(api.get(f"/api/strategies/{strategy.pk}/orders/").json()["results"]) == 1


# --- Runs and orders -------------------------------------------------------------------------


def test_runs_and_orders_are_newest_first_in_cursor_pages(
    api: APIClient, user: AbstractUser
) -> None:
    strategy = StrategyFactory(owner=user)
    runs = add_runs(strategy, ["succeeded", "failed", "succeeded", "skipped", "succeeded"])
    add_runs(StrategyFactory(owner=user), ["succeeded"])  # another strategy's

    first = api.get(f"/api/strategies/{strategy.pk}/runs/?page_size=2").json()
    second = api.get(first["next"]).json()
    orders = api.get(f"/api/strategies/{strategy.pk}/orders/?page_size=3").json()

    assert [row["id"] for row in first["results"] + second["results"]] == [
        run.pk for run in runs[:4]
    ]
    assert second["next"] is not None
    assert [row["run"] for row in orders["results"]] == [run.pk for run in runs[:3]]
    assert {row["strategy"] for row in orders["results"]} == {strategy.pk}


def test_runs_and_orders_filter_by_status_and_since(api: APIClient, user: AbstractUser) -> None:
    strategy = StrategyFactory(owner=user)
    runs = add_runs(strategy, ["succeeded", "failed", "succeeded", "failed"])
    url = f"/api/strategies/{strategy.pk}"
    since = runs[2].scheduled_tick.isoformat()

    failed = api.get(f"{url}/runs/", {"status": "failed"}).json()["results"]
    recent = api.get(f"{url}/runs/", {"since": since}).json()["results"]
    rejected = api.get(f"{url}/orders/", {"status": "rejected", "since": since}).json()["results"]
    bad = api.get(f"{url}/runs/", {"status": "exploded"})

    assert [row["id"] for row in failed] == [runs[1].pk, runs[3].pk]
    assert [row["id"] for row in recent] == [run.pk for run in runs[:3]]
    assert [row["run"] for row in rejected] == [runs[1].pk]
    assert bad.status_code == 400
    assert list(bad.json()) == ["status"]


# --- Who may do what ---------------------------------------------------------------------------


def test_another_users_strategy_is_404_for_every_method_and_action(
    other_api: APIClient, user: AbstractUser
) -> None:
    strategy = strategy_start(strategy=StrategyFactory(owner=user, name="mine"))
    add_runs(strategy, ["succeeded"])
    url = f"/api/strategies/{strategy.pk}/"

    codes = [
        other_api.get(url).status_code,
        other_api.put(url, body(strategy.market, name="stolen"), format="json").status_code,
        other_api.patch(url, {"name": "stolen"}, format="json").status_code,
        other_api.delete(url).status_code,
        other_api.post(f"{url}start/").status_code,
        other_api.post(f"{url}stop/").status_code,
        other_api.post(f"{url}run-now/").status_code,
        other_api.get(f"{url}runs/").status_code,
        other_api.get(f"{url}orders/").status_code,
    ]

    assert codes == [404] * 9
    assert other_api.get("/api/strategies/").json()["count"] == 0
    strategy.refresh_from_db()
    assert (strategy.name, strategy.is_active) == ("mine", True)
    assert job(strategy) is not None


def test_staff_read_every_strategy_but_change_only_their_own(
    staff_api: APIClient, user: AbstractUser, staff_user: AbstractUser
) -> None:
    strategy = StrategyFactory(owner=user, name="theirs", is_active=False)
    add_runs(strategy, ["succeeded"])
    url = f"/api/strategies/{strategy.pk}/"

    listing = staff_api.get("/api/strategies/")
    reads = [staff_api.get(f"{url}{suffix}") for suffix in ("", "runs/", "orders/")]
    writes = [
        staff_api.patch(url, {"name": "x"}, format="json"),
        staff_api.post(f"{url}start/"),
        staff_api.post(f"{url}run-now/"),
        staff_api.delete(url),
    ]
    own = staff_api.post("/api/strategies/", body(strategy.market), format="json")

    assert listing.json()["count"] == 1
    assert [r.status_code for r in reads] == [200, 200, 200]
    assert reads[0].json()["owner"] == user.username
    assert [r.status_code for r in writes] == [403, 403, 403, 403]
    strategy.refresh_from_db()
    assert (strategy.name, strategy.is_active) == ("theirs", False)
    assert job(strategy) is None
    assert own.status_code == 201
    assert Strategy.objects.get(pk=own.json()["id"]).owner == staff_user


def test_anonymous_requests_are_401_everywhere(user: AbstractUser) -> None:
    strategy = StrategyFactory(owner=user)
    url = f"/api/strategies/{strategy.pk}/"
    anonymous = APIClient()

    codes = {
        anonymous.get("/api/strategies/").status_code,
        anonymous.get("/api/strategy-kinds/").status_code,
        anonymous.post("/api/strategies/", {}, format="json").status_code,
        anonymous.patch(url, {"name": "x"}, format="json").status_code,
        anonymous.post(f"{url}start/").status_code,
        anonymous.get(f"{url}runs/").status_code,
    }

    assert codes == {401}


# --- Strategy kinds -----------------------------------------------------------------------------


def test_strategy_kinds_describe_each_parameter_for_a_form(api: APIClient) -> None:
    response = api.get("/api/strategy-kinds/")

    assert response.status_code == 200
    kinds = {kind["key"]: kind for kind in response.json()}
    assert {"dca", "rsi_thresholds", "sma_crossover"} <= set(kinds)
    sma = kinds["sma_crossover"]
    assert sma["name"] == "SMA crossover"
    assert sma["description"].startswith("Buy when the fast average")
    assert sma["parameters"][0] == {
        "name": "fast",
        "type": "integer",
        "default": 10,
        "minimum": "1",
        "maximum": "500",
        "help": "",
    }
    quote = kinds["dca"]["parameters"][0]
    assert (quote["type"], quote["default"], quote["minimum"], quote["maximum"]) == (
        "decimal",
        "100",
        "0.00000001",
        "1000000000000",
    )


def test_decimal_parameters_are_answered_as_plain_text_however_they_came(
    api: APIClient, user: AbstractUser
) -> None:
    strategy = StrategyFactory(
        owner=user, kind="dca", parameters={"quote_amount": 53705167269.559}, is_active=False
    )

    answered = api.get(f"/api/strategies/{strategy.pk}/").json()["parameters"]

    assert answered == {"quote_amount": "53705167269.559"}


def test_the_orders_per_day_cap_is_empty_unless_set_and_can_be_emptied(
    api: APIClient, user: AbstractUser
) -> None:
    market = MarketFactory()

    created = api.post("/api/strategies/", body(market), format="json")
    capped = api.patch(
        f"/api/strategies/{created.json()['id']}/", {"max_orders_per_day": 30}, format="json"
    )
    emptied = api.patch(
        f"/api/strategies/{created.json()['id']}/", {"max_orders_per_day": None}, format="json"
    )

    assert created.status_code == 201, created.content
    assert created.json()["max_orders_per_day"] is None
    assert capped.json()["max_orders_per_day"] == 30
    assert emptied.status_code == 200, emptied.content
    assert emptied.json()["max_orders_per_day"] is None
    assert Strategy.objects.get(pk=created.json()["id"]).max_orders_per_day is None
