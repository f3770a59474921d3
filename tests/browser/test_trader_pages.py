"""What a trader sees, in a real browser: the dashboard, the trade list, a fill marker inside its
bar with its label on hover, a parameter error on its own input, run-now from the strategy page,
lists that fit 1366 px, and ReDoc with no request leaving the machine."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from marketdata.models import Candle, Ticker
from strategies.models import Order, PaperPosition, Strategy, StrategyRun
from strategies.services import strategy_start
from tests.browser.helpers import ARTIFACTS, hourly_candles, log_in, shot
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.processes import ManagedProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_static_files"),
]
WIDE = {"width": 1366, "height": 900}


def fill_at_close(strategy: Strategy, candle: Candle, side: str, amount: str) -> Order:
    """A paper run at the tick its candle closed, filled at that candle's close (as the
    engine fills paper orders)."""
    tick = candle.open_time + timedelta(hours=1)
    run = StrategyRun.objects.create(
        strategy=strategy, scheduled_tick=tick, status="succeeded", signal=side
    )
    order = Order.objects.create(
        strategy=strategy,
        run=run,
        mode="paper",
        side=side,
        amount=Decimal(amount),
        filled_amount=Decimal(amount),
        average_price=candle.close,
        fee=(Decimal(amount) * candle.close * Decimal("0.001")).quantize(Decimal("0.01")),
        status=Order.Status.FILLED,
        client_order_id=f"browser-{strategy.pk}-{side}-{tick:%H}",
    )
    Order.objects.filter(pk=order.pk).update(created_at=tick + timedelta(seconds=1))
    return order


@pytest.fixture
def traded() -> tuple[Strategy, list[Candle]]:
    """An hourly paper strategy with 240 candles: a buy, a winning partial sell, still holding."""
    market = MarketFactory(exchange__name="bitstamp-sim")
    hourly_candles(market)
    candles = list(Candle.objects.filter(market=market).order_by("open_time"))
    strategy = StrategyFactory(market=market, timeframe="1h", name="hourly swing")
    fill_at_close(strategy, candles[-30], "buy", "0.02")
    fill_at_close(strategy, candles[-10], "sell", "0.01")
    PaperPosition.objects.create(strategy=strategy, base_amount=Decimal("0.01"))
    return strategy, candles


def test_the_dashboard_shows_every_strategy_and_leads_to_its_page(
    page: Page, live_server: object, traded: tuple[Strategy, list[Candle]]
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    strategy, _ = traded
    StrategyFactory(name="never started", market=strategy.market)
    page.set_viewport_size(WIDE)
    log_in(page, base)

    page.click("text=View site")

    assert page.url == f"{base}/"
    rows = page.locator("#strategies tbody tr")
    assert rows.count() == 2
    swing = rows.filter(has_text="hourly swing")
    assert "0.01" in swing.inner_text()  # its position
    # Active, hourly, its last run 10 hours ago: late, at a glance.
    assert swing.locator(".badge").inner_text() == "late"
    assert "2 strategies" in page.locator("#totals").inner_text()
    shot(page, "dashboard")
    swing.locator("a", has_text="hourly swing").click()
    page.wait_for_selector("#price-chart[data-drawn=true]")
    assert page.url.endswith(f"/strategies/{strategy.pk}/")


def test_the_trade_list_shows_round_trips_with_profit_percent_and_the_open_trade(
    page: Page, live_server: object, traded: tuple[Strategy, list[Candle]]
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    strategy, candles = traded
    log_in(page, base)

    page.goto(f"{base}/strategies/{strategy.pk}/")

    rows = page.locator("#trades tbody tr")
    assert rows.count() == 2
    assert "open" in rows.nth(0).inner_text()
    closed = rows.nth(1).locator("td").all_inner_texts()
    entry, exit_ = candles[-30].close, candles[-10].close
    # Half the buy's fee (half its amount was sold) and the sell's whole fee.
    buy_fee = (Decimal("0.02") * entry * Decimal("0.001")).quantize(Decimal("0.01"))
    sell_fee = (Decimal("0.01") * exit_ * Decimal("0.001")).quantize(Decimal("0.01"))
    fees = buy_fee / 2 + sell_fee
    profit = Decimal("0.01") * (exit_ - entry) - fees
    assert closed[2] == "0.01"
    assert closed[3] == f"{entry:,.2f}"
    assert closed[4] == f"{exit_:,.2f}"
    assert closed[5] == f"{profit:,.2f}"
    assert closed[7] == "20 h 00 min"
    assert closed[6].endswith("%")
    assert "out of all closed trades" in page.locator("#trade-definitions").inner_text()
    assert page.locator("#figures div", has_text="Closed trades").locator("dd").inner_text() == "1"
    page.locator("#trades").screenshot(path=str(shot(page, "trades-page").with_name("trades.png")))


BAR_OF_FILL = """() => {
  const { price } = window.strategyCharts;
  const fill = price.data.fills.find((f) => f.side === "buy");
  const bar = price.data.bars.find((b) => b.time === fill.bar_time);
  const marker = price.markers.markers().find((m) => m.id && m.id.includes("buy"));
  const x = price.chart.timeScale().timeToCoordinate(bar.time);
  return { fill, bar, marker, x,
    y: price.candles.priceToCoordinate(fill.price),
    yHigh: price.candles.priceToCoordinate(bar.high),
    yLow: price.candles.priceToCoordinate(bar.low) };
}"""


def test_a_fill_marker_sits_inside_its_bar_and_shows_its_label_on_hover(
    page: Page, live_server: object, traded: tuple[Strategy, list[Candle]]
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    strategy, candles = traded
    log_in(page, base)
    page.goto(f"{base}/strategies/{strategy.pk}/")
    page.wait_for_selector("#price-chart[data-drawn=true]")
    # Zoomed in on the buy's day, as a trader looking at it would.
    page.evaluate(
        "([from, to]) => window.strategyCharts.price.chart.timeScale()"
        ".setVisibleRange({ from, to })",
        [int(candles[-40].open_time.timestamp()), int(candles[-20].open_time.timestamp())],
    )
    # The chart redraws on the next animation frames: wait for them, not for a fixed time.
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")

    placed = page.evaluate(BAR_OF_FILL)

    assert placed["bar"]["time"] == int(candles[-30].open_time.timestamp())
    assert placed["bar"]["low"] <= placed["fill"]["price"] <= placed["bar"]["high"]
    assert placed["marker"]["position"] == "atPriceMiddle"
    assert placed["marker"].get("text") in (None, "")  # no printed label to pile up
    assert placed["yHigh"] <= placed["y"] <= placed["yLow"]  # drawn within the bar's wick
    box = page.locator("#price-chart").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + placed["x"], box["y"] + placed["y"])
    tooltip = page.locator("#chart-tooltip")
    tooltip.wait_for(state="visible")
    assert tooltip.inner_text().startswith("buy 0.02 @ ")
    shot(page, "fill-marker-hover")


OUTLINES = """inputs => inputs.map((i) =>
  [i.dataset.name, i.matches(".invalid"), getComputedStyle(i).borderTopColor])"""


def test_a_parameter_error_outlines_only_its_own_input(page: Page, live_server: object) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    MarketFactory(exchange__name="demo", symbol="BTC/USD")
    log_in(page, base)
    page.goto(f"{base}/admin/strategies/strategy/add/")
    page.fill("#id_name", "bad parameter")
    page.fill("#id_market", "demo:BTC/USD")  # typed as the README writes it
    page.select_option("#id_kind", "sma_crossover")
    page.fill("#id_parameter_fast", "0")

    page.click("input[name=_save]")

    page.wait_for_selector(".field-parameters .errorlist")
    assert "fast:" in page.locator(".field-parameters .errorlist").inner_text()
    outlined = page.eval_on_selector_all(".parameter-inputs input", OUTLINES)
    by_name = {name: (invalid, color) for name, invalid, color in outlined}
    assert by_name["fast"][0] is True
    assert [name for name, (invalid, _) in by_name.items() if invalid] == ["fast"]
    assert len({color for _, color in by_name.values()}) == 2  # the error's colour, one input
    assert page.locator(".field-market .errorlist").count() == 0  # the typed market was taken
    shot(page, "parameter-error")


def test_run_now_from_the_strategy_page_runs_it_on_a_worker(
    page: Page, live_server: object, celery_worker: ManagedProcess
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    market = MarketFactory(exchange__name="bitstamp-sim")
    hourly_candles(market)
    # A ticker of now: the run's price is fresh even when the hour turns after the candles.
    last = Candle.objects.filter(market=market).order_by("-open_time").first()
    assert last is not None
    Ticker.objects.create(market=market, time=timezone.now(), last=last.close)
    strategy = strategy_start(
        strategy=StrategyFactory(market=market, timeframe="1h", kind="dca", is_active=False)
    )
    log_in(page, base)
    page.goto(f"{base}/strategies/{strategy.pk}/")

    page.click("#run-now")

    assert "Queued to run now" in page.locator(".messagelist").inner_text()
    ended = StrategyRun.objects.filter(strategy=strategy, trigger="run_now").exclude(
        status="running"
    )
    wait_for(ended.exists, timeout=60, what="the run-now run to end", every=0.5)
    page.goto(f"{base}/strategies/{strategy.pk}/")
    first_run = page.locator("#runs tbody tr").first.inner_text()
    assert "Run now" in first_run
    assert "Succeeded" in first_run
    shot(page, "run-now")


@pytest.mark.parametrize(
    "changelist",
    ["/admin/strategies/order/", "/admin/django_celery_beat/periodictask/"],
    ids=["orders", "periodic-tasks"],
)
def test_the_orders_and_periodic_task_lists_fit_1366_pixels(
    page: Page, live_server: object, traded: tuple[Strategy, list[Candle]], changelist: str
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    from tasks.jobs import system_jobs_install

    system_jobs_install()
    # An order as wide as they come: the engine's client order id, 12 stored places each.
    strategy, candles = traded
    wide = fill_at_close(strategy, candles[-5], "buy", "0.001645576681")
    Order.objects.filter(pk=wide.pk).update(
        client_order_id=f"tw-{strategy.pk}-1796668440000000",
        average_price=Decimal("60768.971234567891"),
        fee=Decimal("0.099999999981"),
    )
    page.set_viewport_size(WIDE)
    log_in(page, base)

    page.goto(f"{base}{changelist}")

    results = page.locator(".results")
    assert page.locator("#result_list tbody tr").count() >= 2
    widths = results.evaluate("box => [box.scrollWidth, box.clientWidth]")
    assert widths[0] <= widths[1], f"the list is cut: {widths}"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDE["width"]
    shot(page, "list" + changelist.replace("/", "-"))


def test_redoc_renders_with_no_request_leaving_the_machine(page: Page, live_server: object) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(f"{base}/api/redoc/")
    page.wait_for_selector("text=/api/strategies/{id}/trades/")
    page.wait_for_load_state("networkidle")

    own = ("http://127.0.0.1:", "http://localhost:", "data:", "blob:")
    assert len(requests) >= 3  # the page, the bundle, the schema
    assert [url for url in requests if not url.startswith(own)] == []
    assert base.startswith(("http://127.0.0.1:", "http://localhost:"))
    page.screenshot(path=str(ARTIFACTS / "redoc-offline.png"))  # the first screen: it is long
    page.goto("about:blank")  # the fixture's full-page shot of ReDoc's long page times out


def test_the_strategy_page_refreshes_itself_after_the_next_tick(
    page: Page, live_server: object
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    market = MarketFactory(exchange__name="bitstamp-sim")
    hourly_candles(market)
    strategy = StrategyFactory(
        market=market, timeframe="1h", interval_seconds=60, is_active=True, name="every minute"
    )
    log_in(page, base)
    page.goto(f"{base}/strategies/{strategy.pk}/")
    page.wait_for_selector("#price-chart[data-drawn=true]")
    page.evaluate("window.notReloaded = true")
    assert "No trades yet" in page.locator("#trades").inner_text()
    # What the worker would record at the tick: a run and its fill.
    candle = Candle.objects.filter(market=market).order_by("-open_time").first()
    assert candle is not None
    fill_at_close(strategy, candle, "buy", "0.01")

    page.wait_for_selector("#strategy-page[data-refreshed]", timeout=90_000)

    assert page.evaluate("window.notReloaded") is True  # redrawn in place, zoom kept
    assert "open" in page.locator("#trades tbody tr").first.inner_text()
    assert "buy" in page.locator("#runs tbody tr").first.inner_text()
    assert page.evaluate("window.strategyCharts.price.data.fills.length") == 1
