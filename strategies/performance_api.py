"""The strategy resource's read-only figures: position, P&L, next and last run.

Every figure comes from `strategies.performance` (the page shows the same) and
`strategies.status`; decimals are plain text without trailing zeros (`57527.66`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from project.kernel.decimals import STORED_PLACES
from project.kernel.display import plain
from strategies.models import Strategy, StrategyRun
from strategies.ordering import MarketRules, shown
from strategies.performance import Performance, strategies_performance
from strategies.status import strategies_last_runs, strategy_next_run_at
from strategies.trades import Trade


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True})
class PlainDecimalField(serializers.Field):
    def to_representation(self, value: Decimal | None) -> str | None:
        return plain(value)


class RoundedDecimalField(PlainDecimalField):
    """A computed figure (a division's 28 digits) to a fixed number of places."""

    def __init__(self, places: int = STORED_PLACES, **kwargs: Any) -> None:
        self.step = Decimal(1).scaleb(-places)
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal | None) -> str | None:
        return plain(None if value is None else value.quantize(self.step))


class PositionSerializer(serializers.Serializer):
    base_amount = PlainDecimalField(help_text="Base asset held.")
    quote_balance = PlainDecimalField(
        help_text="Quote cash: paper's, or the account's from its latest balance sync and the "
        "fills since (live; without a sync, the fills' net cash flow)."
    )
    average_entry_price = PlainDecimalField(help_text="Average cost of the base held, fees in.")
    fees_paid = PlainDecimalField()
    balances = serializers.DictField(
        child=PlainDecimalField(), help_text="Live: the account's latest totals of both assets."
    )
    balances_synced_at = serializers.DateTimeField(
        allow_null=True, help_text="Live: the balance sync the equity starts from."
    )


class PnlSerializer(serializers.Serializer):
    last_price = PlainDecimalField()
    starting_capital = PlainDecimalField()
    equity = PlainDecimalField(
        help_text="Quote cash plus the base at the last price (live: the account's synced base)."
    )
    realized = PlainDecimalField(source="realized_pnl")
    unrealized = PlainDecimalField(source="unrealized_pnl")
    total = PlainDecimalField(source="total_pnl", help_text="Equity less starting capital.")
    trades = serializers.IntegerField(
        help_text="Closed round trips: each sell closes the oldest bought lots first (FIFO)."
    )
    wins = serializers.IntegerField(help_text="Closed trades with a profit after fees above 0.")
    win_rate = PlainDecimalField(
        help_text="Wins per closed trade, 0 to 1 (the open trade is not counted); null without "
        "closed trades."
    )
    max_drawdown = PlainDecimalField(help_text="Largest fall from an equity peak, 0 to 1.")
    profit_factor = RoundedDecimalField(
        places=2,
        source="summary.profit_factor",
        help_text="Sum of closed trades' gains / sum of their losses; null: no losing trade.",
    )


class TradeSerializer(serializers.Serializer):
    """A round trip of `strategies.trades` (its docstring defines each figure)."""

    entry_time = serializers.DateTimeField()
    exit_time = serializers.DateTimeField(allow_null=True, help_text="Null: the open trade.")
    amount = RoundedDecimalField()
    entry_price = RoundedDecimalField(help_text="Amount-weighted price of the lots it closed.")
    exit_price = RoundedDecimalField(help_text="The open trade: the last price it is marked at.")
    profit = RoundedDecimalField(help_text="In the quote currency, after all fees.")
    profit_pct = RoundedDecimalField(
        places=2, help_text="Profit / (amount x entry price + entry fees) x 100."
    )
    duration_seconds = serializers.SerializerMethodField()
    fees = RoundedDecimalField()
    is_open = serializers.BooleanField()

    def get_duration_seconds(self, trade: Trade) -> int | None:
        return None if trade.duration is None else int(trade.duration.total_seconds())


class TradeSummarySerializer(serializers.Serializer):
    closed = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    win_rate = RoundedDecimalField(places=2, help_text="Wins per closed trade in percent.")
    profit_factor = RoundedDecimalField(
        places=2, help_text="Sum of gains / sum of losses; null: no loss."
    )
    closed_profit = RoundedDecimalField()


class TradesSerializer(serializers.Serializer):
    """The strategy's trades: the summary, the open trade, the newest closed trades."""

    summary = TradeSummarySerializer()
    open_trade = TradeSerializer(allow_null=True)
    closed = TradeSerializer(many=True, help_text="Newest first.")


class LastRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = StrategyRun
        fields = ["id", "scheduled_tick", "trigger", "status", "signal", "reason", "finished_at"]
        read_only_fields = fields


class PerformanceFields(serializers.Serializer):
    """Mixed into the strategy serializer: the figures, computed once per strategy shown."""

    position = serializers.SerializerMethodField()
    pnl = serializers.SerializerMethodField()
    next_run_at = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()

    def _performance(self, strategy: Strategy) -> Performance:
        """The figures of a list page's strategies at once: a few queries, not a few each."""
        cache = self.context.setdefault("performance", {})
        if strategy.pk not in cache:
            page = getattr(self.parent, "instance", None)
            shown = (
                [item for item in page if item.pk not in cache] if isinstance(page, list) else []
            )
            if strategy not in shown:
                shown.append(strategy)
            cache.update(strategies_performance(strategies=shown))
        return cache[strategy.pk]

    @extend_schema_field(PositionSerializer)
    def get_position(self, strategy: Strategy) -> dict[str, Any]:
        return in_market(PositionSerializer(self._performance(strategy)).data, strategy)

    @extend_schema_field(PnlSerializer)
    def get_pnl(self, strategy: Strategy) -> dict[str, Any]:
        return in_market(PnlSerializer(self._performance(strategy)).data, strategy)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_run_at(self, strategy: Strategy) -> str | None:
        moment = strategy_next_run_at(strategy=strategy)
        return serializers.DateTimeField().to_representation(moment) if moment else None

    @extend_schema_field(LastRunSerializer(allow_null=True))
    def get_last_run(self, strategy: Strategy) -> dict[str, Any] | None:
        run = self._last_runs(strategy).get(strategy.pk)
        return LastRunSerializer(run).data if run else None

    def _last_runs(self, strategy: Strategy) -> dict[int, StrategyRun]:
        """The last runs of a list page's strategies in one query, not one per strategy."""
        asked, runs = self.context.setdefault("last_runs", (set(), {}))
        if strategy.pk not in asked:
            page = getattr(self.parent, "instance", None)
            ids = {item.pk for item in page} if isinstance(page, list) else {strategy.pk}
            runs.update(strategies_last_runs(strategy_ids=ids | {strategy.pk}))
            asked.update(ids | {strategy.pk})
        return runs


TRADES_SHOWN = 500


def trades_data(
    performance: Performance, strategy: Strategy, *, limit: int = TRADES_SHOWN
) -> dict[str, Any]:
    """The API's trade list: the open trade apart, the newest closed first; its numbers in
    the market's places, as the position's (`in_market`)."""
    trades = performance.trade_list
    held = trades[-1] if trades and trades[-1].is_open else None
    closed = trades[:-1] if held else trades
    data = TradesSerializer(
        {
            "summary": performance.summary,
            "open_trade": held,
            "closed": list(reversed(closed[-limit:])),
        }
    ).data
    rules = MarketRules.from_market(strategy.market)
    for trade in [data["open_trade"], *data["closed"]]:
        if trade is not None:
            _shown_in(trade, rules, TRADE_NUMBERS)
    _shown_in(data["summary"], rules, {"closed_profit": "money"})
    return data


# The figures that are a market's numbers, and which (`strategies.ordering.shown`).
MARKET_NUMBERS = {
    "base_amount": "amount",
    "average_entry_price": "price",
    "last_price": "price",
    **dict.fromkeys(
        ("quote_balance", "fees_paid", "starting_capital", "equity", "realized", "unrealized"),
        "money",
    ),
    "total": "money",
}


# A trade's numbers, likewise.
TRADE_NUMBERS = {
    "amount": "amount",
    "entry_price": "price",
    "exit_price": "price",
    "profit": "money",
    "fees": "money",
}


def in_market(data: dict[str, Any], strategy: Strategy) -> dict[str, Any]:
    """The figures with no more places than their market and currency have (0.10 USD)."""
    return _shown_in(data, MarketRules.from_market(strategy.market), MARKET_NUMBERS)


def _shown_in(data: dict[str, Any], rules: MarketRules, numbers: dict[str, str]) -> dict[str, Any]:
    for name, what in numbers.items():
        if data.get(name) is not None:
            data[name] = shown(rules, Decimal(data[name]), what)
    return data
