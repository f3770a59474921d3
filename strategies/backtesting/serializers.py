"""The API's shapes of a backtest, its trades and fills, and the actions on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import available_timezones

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketdata.models import Market
from project.kernel.api_fields import AmountField
from strategies.backtesting.models import Backtest, BacktestFill, BacktestTrade
from strategies.backtesting.services import FIELDS
from strategies.engine import strategy_choices
from strategies.engine.registry import parameters_as_answered
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


# A fee rate as text, 0 to 0.1 (10%) with six places at most: the schema says what is accepted.
FEE_RATE_PATTERN = r"^0(?:\.(?:0\d{0,5}|10{0,5}))?$"


@extend_schema_field({"type": "string", "format": "decimal", "pattern": FEE_RATE_PATTERN})
class FeeRateField(serializers.DecimalField):
    """The paper fee as a fraction of a fill's value, e.g. "0.001"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_digits=8, decimal_places=6, min_value=Decimal(0), max_value=Decimal("0.1"), **kwargs
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
    kind = serializers.ChoiceField(choices=[], required=False)
    parameters = ParametersField(required=False)
    crontab_timezone = serializers.ChoiceField(
        choices=sorted(available_timezones()), required=False
    )
    capital = AmountField(required=False)
    fee_rate = FeeRateField(required=False)
    max_position = AmountField(required=False, allow_null=True)

    class Meta:
        model = Backtest
        fields = ["id", "owner", "strategy", *FIELDS, *RESULTS]
        read_only_fields = list(RESULTS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read when used: kinds registered after this module loaded (plug-ins) are offered too.
        self.fields["kind"].choices = strategy_choices()

    def to_representation(self, instance: Backtest) -> dict[str, Any]:
        data = super().to_representation(instance)
        for name in ("parameters", "used_parameters"):
            if isinstance(getattr(instance, name), dict):
                data[name] = parameters_as_answered(instance.kind, getattr(instance, name))
        return data

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
