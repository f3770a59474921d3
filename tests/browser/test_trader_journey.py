"""A trader's way through the admin in a real browser: a field error, start, run now, the run
and its order (made by a real worker), the strategy page's chart drawn, Swagger UI offline."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from strategies.models import Strategy
from tests.browser.helpers import ARTIFACTS, CANVAS_HAS_CONTENT, hourly_candles, log_in, shot
from tests.factories import MarketFactory
from tests.processes import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.processes import ManagedProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_static_files"),
]


def test_a_trader_creates_starts_and_runs_a_strategy_and_watches_it(
    page: Page, live_server: object, celery_worker: ManagedProcess
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    market = MarketFactory(exchange__name="bitstamp-sim")
    hourly_candles(market)
    log_in(page, base)

    # Invalid parameters: the error is on the parameters field, from the kind's own inputs.
    page.goto(f"{base}/admin/strategies/strategy/add/")
    page.fill("#id_name", "hourly dca")
    page.fill("#id_market", str(market.pk))
    page.select_option("#id_kind", "dca")
    page.select_option("#id_timeframe", "1h")
    page.fill("#id_parameter_quote_amount", "-5")
    page.click("input[name=_save]")
    error = page.locator(".field-parameters .errorlist")
    assert "quote_amount: must be at least 0.00000001" in error.inner_text()
    shot(page, "1-field-error")

    # Fixed and started from the same form.
    page.fill("#id_parameter_quote_amount", "250")
    page.check("#id_is_active")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    strategy = Strategy.objects.get(name="hourly dca")
    assert strategy.is_active
    assert strategy.parameters == {"quote_amount": "250"}

    # Its next run, from the scheduler, on the change page.
    page.goto(f"{base}/admin/strategies/strategy/{strategy.pk}/change/")
    next_run = page.locator(".field-next_run .readonly").inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", next_run), next_run
    assert datetime.fromisoformat(next_run) > datetime.now() - timedelta(hours=1)

    # Run it now from the list; the worker's run and its order show on the change page.
    page.goto(f"{base}/admin/strategies/strategy/")
    page.check(f"input[name=_selected_action][value='{strategy.pk}']")
    page.select_option("select[name=action]", "run_strategies_now")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    change = f"{base}/admin/strategies/strategy/{strategy.pk}/change/"

    def order_listed() -> int:
        page.goto(change)
        return page.locator(".recent-orders tbody tr").count()

    wait_for(order_listed, timeout=60, what="the run's order on the change page", every=1)
    assert "Succeeded" in page.locator(".recent-runs tbody tr").first.inner_text()
    assert "Filled" in page.locator(".recent-orders tbody tr").first.inner_text()
    shot(page, "2-change-page")

    # The strategy page: the chart is drawn and the figures show the fill.
    page.click("text=chart & performance")
    page.wait_for_selector("#price-chart[data-drawn=true]")
    page.wait_for_function(CANVAS_HAS_CONTENT)
    assert page.locator("#figures dt", has_text="Trades").count() == 1
    assert page.locator("#runs tbody tr").count() == 1
    shot(page, "3-strategy-page")
    page.locator("#content").screenshot(path=str(ARTIFACTS / "strategy-page-content.png"))


def test_swagger_ui_lists_the_operations_offline(page: Page, live_server: object) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    outside: list[str] = []
    page.on(
        "request",
        lambda request: outside.append(request.url) if not request.url.startswith(base) else None,
    )

    page.goto(f"{base}/api/docs/")
    page.wait_for_selector(".opblock")

    assert page.locator(".opblock").count() > 20
    assert page.locator(".opblock-summary-path", has_text="/api/strategies/{id}/run-now/").count()
    assert outside == []
    shot(page, "4-swagger-ui")
