"""FIFO round trips against hand-computed values: weighted entries, split lots, the open trade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from strategies.trades import Fill, round_trips, trades_summary

T0 = datetime(2026, 1, 5, tzinfo=UTC)
D = Decimal


def fill(minute: int, side: str, amount: str, price: str, fee: str = "0") -> Fill:
    return Fill(T0 + timedelta(minutes=minute), side, D(amount), D(price), D(fee))


SCRIPT = [
    fill(0, "buy", "2", "100", "0.2"),
    fill(10, "buy", "1", "130", "0.13"),
    fill(30, "sell", "1.5", "120", "0.18"),
    fill(45, "sell", "0.5", "100", "0.05"),
]


def test_a_partial_close_splits_the_oldest_lot_and_its_fee():
    first, second, _ = round_trips(SCRIPT, last_price=D("140"))

    # 1.5 of the 2 @ 100 lot: entry fee 0.2 x 1.5/2 = 0.15, exit fee 0.18
    assert (first.amount, first.entry_price, first.exit_price) == (D("1.5"), D(100), D(120))
    assert first.fees == D("0.33")
    assert first.profit == D("29.67")  # 180 - 150 - 0.33
    assert round(first.profit_pct, 6) == round(D("29.67") / D("150.15") * 100, 6)
    assert (first.entry_time, first.exit_time) == (T0, T0 + timedelta(minutes=30))
    assert first.duration == timedelta(minutes=30)
    # the rest of that lot: 0.5 @ 100 with the fee left on it, 0.05
    assert (second.amount, second.entry_price, second.fees) == (D("0.5"), D(100), D("0.10"))
    assert second.profit == D("-0.10")
    assert second.entry_time == T0
    assert second.duration == timedelta(minutes=45)


def test_what_is_held_is_one_open_trade_marked_to_the_last_price():
    as_of = T0 + timedelta(hours=1)

    *_, open_trade = round_trips(SCRIPT, last_price=D("140"), as_of=as_of)

    assert open_trade.is_open
    assert open_trade.exit_time is None
    assert (open_trade.amount, open_trade.entry_price) == (D(1), D(130))
    assert open_trade.exit_price == D(140)
    assert open_trade.profit == D("9.87")  # 140 - 130 - the entry fee 0.13
    assert round(open_trade.profit_pct, 6) == round(D("9.87") / D("130.13") * 100, 6)
    assert open_trade.duration == timedelta(minutes=50)


def test_an_open_trade_without_a_price_has_no_profit():
    (trade,) = round_trips([fill(0, "buy", "1", "100")])

    assert trade.is_open
    assert trade.profit is None
    assert trade.profit_pct is None
    assert trade.duration is None


def test_a_sell_across_lots_weights_its_entry_price_and_shares_their_fees():
    fills = [
        fill(0, "buy", "1", "100", "0.1"),
        fill(1, "buy", "3", "200", "0.6"),
        fill(2, "sell", "2", "150", "0.3"),
    ]

    closed, held = round_trips(fills, last_price=D(200))

    assert closed.amount == D(2)
    assert closed.entry_price == D(150)
    assert closed.fees == D("0.6")  # 0.1 + 0.6 x 1/3 + 0.3
    assert closed.profit == D("-0.6")
    assert closed.entry_time == T0
    assert (held.amount, held.entry_price, held.fees) == (D(2), D(200), D("0.4"))


def test_a_round_trip_of_several_buys_has_their_weighted_price():
    fills = [fill(0, "buy", "1", "100"), fill(5, "buy", "3", "120"), fill(9, "sell", "4", "130")]

    (trade,) = round_trips(fills)

    assert trade.entry_price == D(115)  # (100 + 360) / 4
    assert trade.profit == D(60)
    assert trade.profit_pct == D(60) / D(460) * 100


def test_a_sell_beyond_what_is_held_closes_what_is_held_only():
    fills = [
        fill(0, "sell", "1", "90"),
        fill(1, "buy", "1", "100"),
        fill(2, "sell", "3", "110", "0.3"),
    ]

    (trade,) = round_trips(fills)

    assert trade.amount == D(1)
    assert trade.fees == D("0.1")
    assert trade.profit == D("9.9")


def test_the_summary_counts_closed_trades_only():
    summary = trades_summary(round_trips(SCRIPT, last_price=D(140)))

    assert (summary.closed, summary.wins, summary.losses) == (2, 1, 1)
    assert summary.win_rate == D(50)
    assert summary.profit_factor == D("296.7")  # 29.67 / 0.10
    assert summary.closed_profit == D("29.57")


def test_no_closed_trade_means_no_win_rate_and_no_losses_no_profit_factor():
    only_open = trades_summary(round_trips([fill(0, "buy", "1", "100")], last_price=D(200)))
    one_win = trades_summary(round_trips([fill(0, "buy", "1", "100"), fill(1, "sell", "1", "110")]))

    assert only_open.closed == 0
    assert only_open.win_rate is None
    assert one_win.win_rate == D(100)
    assert one_win.profit_factor is None
