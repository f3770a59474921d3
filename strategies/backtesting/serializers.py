"""The API's shapes of a backtest, its trades and fills, and the actions on it."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from rest_framework import serializers

from marketdata.models import Market
from project.api_fields import AmountField
from strategies.backtesting.models import Backtest, BacktestFill, BacktestTrade
from strategies.backtesting.services import FIELDS
from strategies.models import Strategy
from strategies.serializers import ParametersField

RESULTS = (
    "status",
    "stage",
    "progress_pct",
    "candles_done",
    "candles_total",
    "error",
    "figures",
    "equity",
    "refusals",
    "used_parameters",
    "trades_hash",
    "code_version",
    "ticks",
    "created_at",
    "started_at",
    "finished_at",
)


class BacktestSerializer(serializers.ModelSerializer):
    """A backtest: what it replays, and (read-only) its progress and results.

    Give `strategy` (one of yours) to backtest it as it is set; the fields you send override
    its own (e.g. the period). `figures`: see the README's Backtesting section.
    """

    owner = serializers.CharField(source="owner.get_username", read_only=True)
    strategy = serializers.PrimaryKeyRelatedField(
        queryset=Strategy.objects.all(), required=False, allow_null=True
    )
    market = serializers.PrimaryKeyRelatedField(queryset=Market.objects.all(), required=False)
    kind = serializers.CharField(required=False)
    parameters = ParametersField(required=False)
    crontab_timezone = serializers.ChoiceField(
        choices=sorted(available_timezones()), required=False
    )
    capital = AmountField(required=False)
    max_position = AmountField(required=False, allow_null=True)

    class Meta:
        model = Backtest
        fields = ["id", "owner", "strategy", *FIELDS, *RESULTS]
        read_only_fields = list(RESULTS)

    def validate_strategy(self, strategy: Strategy | None) -> Strategy | None:
        user = self.context["request"].user
        if strategy is not None and strategy.owner_id != user.pk:
            raise serializers.ValidationError("must be one of your strategies")
        return strategy

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("strategy") is None:
            missing = [name for name in ("market", "kind") if name not in attrs]
            if missing:
                raise serializers.ValidationError(
                    {name: "required without a strategy" for name in missing}
                )
        return attrs


class BacktestTradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestTrade
        exclude = ["id", "backtest"]


class BacktestFillSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestFill
        exclude = ["id", "backtest"]


class ToStrategySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="The new paper strategy's name.")
