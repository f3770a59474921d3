"""Numbers that reach an order or a schedule have domain bounds, and names refuse control
characters: the API, the admin's forms and the published schema apply the same rule."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib import admin
from django.test import RequestFactory
from drf_spectacular.generators import SchemaGenerator

from marketdata.models import ExchangeAccount
from strategies.models import Strategy
from tests.factories import ExchangeAccountFactory, MarketFactory, StrategyFactory, UserFactory

if TYPE_CHECKING:
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

HUGE_AMOUNTS = ["1e400", "1e40", "1e308"]
CONTROL_NAMES = ["evil\u202egnp.exe", "tab\there", "zero\u200bwidth", " padded", "bell\x07"]


def create_strategy(api: APIClient, raw_json: str) -> Any:
    """POST a body given as JSON text: JSON numbers like 1e400 cannot be built as Python."""
    return api.post("/api/strategies/", raw_json, content_type="application/json")


def strategy_json(market_id: int, **fields: str) -> str:
    body = {"name": "dca", "kind": "dca", "market": market_id}
    return json.dumps(body)[:-1] + "".join(f', "{k}": {v}' for k, v in fields.items()) + "}"


@pytest.mark.parametrize("amount", HUGE_AMOUNTS)
@pytest.mark.parametrize("written", ["number", "text"])
def test_a_quote_amount_no_run_can_use_is_refused(
    api: APIClient, amount: str, written: str
) -> None:
    value = amount if written == "number" else f'"{amount}"'
    body = strategy_json(MarketFactory().pk, parameters=f'{{"quote_amount": {value}}}')

    response = create_strategy(api, body)

    assert response.status_code == 400, response.content
    assert "quote_amount" in response.json()["parameters"]
    assert not Strategy.objects.exists()


def test_the_largest_quote_amount_is_accepted(api: APIClient) -> None:
    body = strategy_json(MarketFactory().pk, parameters='{"quote_amount": "1000000000000"}')

    response = create_strategy(api, body)

    assert response.status_code == 201, response.content
    assert response.json()["parameters"] == {"quote_amount": "1000000000000"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("interval_seconds", "2592001"),
        ("interval_seconds", "9"),
        ("max_orders_per_day", "10001"),
        ("max_position", '"1e40"'),
        ("max_position", '"-1"'),
        ("max_position", "0.5"),
    ],
)
def test_schedule_and_guardrail_numbers_out_of_bounds_are_refused(
    api: APIClient, field: str, value: str
) -> None:
    response = create_strategy(api, strategy_json(MarketFactory().pk, **{field: value}))

    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_names_with_control_characters_are_refused_by_the_api(api: APIClient, name: str) -> None:
    body = json.dumps({"name": name, "kind": "dca", "market": MarketFactory().pk})
    strategy = create_strategy(api, body)
    account = api.post(
        "/api/accounts/",
        {"exchange": MarketFactory().exchange_id, "label": name, "api_key": "k", "api_secret": "s"},
        format="json",
    )

    assert strategy.status_code == 400
    assert "name" in strategy.json()
    assert account.status_code == 400
    assert "label" in account.json()
    assert not ExchangeAccount.objects.exists()


def admin_form_errors(model: type, instance: Any, **changes: Any) -> dict[str, Any]:
    """The errors of the admin's own change form for `instance` with `changes`."""
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[model]
    form_class = model_admin.get_form(request, instance)
    initial = {
        name: form_class(instance=instance).initial.get(name) for name in form_class.base_fields
    }
    data = {k: ("" if v is None else v) for k, v in initial.items()} | changes
    form = form_class(data=data, instance=instance)
    form.is_valid()
    return form.errors


def test_the_admin_refuses_what_the_api_refuses() -> None:
    strategy = StrategyFactory(kind="dca", parameters={})
    account = ExchangeAccountFactory()

    name_errors = admin_form_errors(Strategy, strategy, name="evil\u202egnp")
    amount_errors = admin_form_errors(Strategy, strategy, parameters='{"quote_amount": "1e40"}')
    interval_errors = admin_form_errors(Strategy, strategy, interval_seconds="2592001")
    label_errors = admin_form_errors(ExchangeAccount, account, label="bell\x07")

    assert "name" in name_errors
    assert "quote_amount" in str(amount_errors)
    assert "interval_seconds" in interval_errors
    assert "label" in label_errors


def test_the_schema_publishes_the_bounds() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    strategy = schema["components"]["schemas"]["StrategyRequest"]["properties"]
    account = schema["components"]["schemas"]["ExchangeAccountRequest"]["properties"]
    quote_amount = strategy["parameters"]["properties"]["quote_amount"]["oneOf"][0]

    assert quote_amount["maximum"] == 1e12
    assert strategy["interval_seconds"]["maximum"] == 30 * 24 * 3600
    assert strategy["max_orders_per_day"]["maximum"] == 10_000
    assert "\\u2028-\\u202e" in strategy["name"]["pattern"]
    assert account["label"]["pattern"] == strategy["name"]["pattern"]
    assert {"UTC", "Europe/Berlin"} <= set(
        schema["components"]["schemas"]["CrontabTimezoneEnum"]["enum"]
    )
