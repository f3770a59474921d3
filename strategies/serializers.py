"""API serializers for strategies, their kinds, runs and orders, and the filters of their lists."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import available_timezones

from django.db.models import QuerySet
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketdata.models import ExchangeAccount, Market
from marketdata.serializers import MAX_ID
from project.kernel.api_fields import AmountField
from project.kernel.decimals import fixed
from project.kernel.scheduling import trigger_field_errors
from strategies.engine import BaseStrategy, ParamType, get_strategy_class, strategy_choices
from strategies.engine import parameter_errors as engine_parameter_errors
from strategies.engine.registry import parameters_as_answered
from strategies.market_fields import MarketLabelSerializerField
from strategies.models import Order, Strategy, StrategyRun
from strategies.ordering import MarketRules, shown
from strategies.performance_api import PerformanceFields
from strategies.services import EDITABLE_FIELDS


class OwnAccountField(serializers.PrimaryKeyRelatedField):
    """An exchange account of the requesting user: another user's is 'does not exist'."""

    def get_queryset(self) -> QuerySet[ExchangeAccount]:
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return ExchangeAccount.objects.none()
        return ExchangeAccount.objects.filter(owner=request.user)


class ParametersField(serializers.DictField):
    """A strategy's parameters; the schema lists every registered kind's (see below)."""


class ParametersFieldExtension(OpenApiSerializerFieldExtension):
    """`parameters` in the schema: each known parameter with its type and bounds, no others.
    Which of them a kind takes is in /api/strategy-kinds/."""

    target_class = ParametersField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for key, _ in strategy_choices():
            for name, param in get_strategy_class(key).parameters.items():
                properties.setdefault(name, param.json_schema(direction))
        return {"type": "object", "properties": properties, "additionalProperties": False}


class StrategySerializer(PerformanceFields, serializers.ModelSerializer):
    """A strategy. `is_active` and `paused_reason` change only through start and stop.

    `parameters` is checked against the kind's schema (see /api/strategy-kinds/); errors come
    back per parameter: `{"parameters": {"fast": ["must be less than slow"]}}`.
    """

    owner = serializers.CharField(source="owner.get_username", read_only=True)
    account = OwnAccountField(
        required=False,
        allow_null=True,
        help_text="Your exchange account on the market's exchange; needed for live mode.",
    )
    market = MarketLabelSerializerField(
        queryset=Market.objects.filter(active=True),
        help_text="An active market: its id, or exchange:SYMBOL (e.g. demo:BTC/USD).",
    )
    market_label = serializers.CharField(
        source="market.__str__", read_only=True, help_text="The market as exchange:SYMBOL."
    )
    parameters = ParametersField(
        required=False,
        help_text="Values for the kind's parameters; omitted ones take their default.",
    )
    # Every IANA zone, as an enum: the schema lists exactly what is accepted.
    crontab_timezone = serializers.ChoiceField(
        choices=sorted(available_timezones()), required=False, help_text="e.g. Europe/Berlin."
    )
    max_position = AmountField(
        required=False,
        allow_null=True,
        help_text="Largest position in the base asset; empty: no limit.",
    )

    class Meta:
        model = Strategy
        fields = [
            "id",
            "owner",
            *EDITABLE_FIELDS,
            "market_label",
            "is_active",
            "paused_reason",
            "created_at",
            "updated_at",
            *PerformanceFields._declared_fields,
        ]
        read_only_fields = ["is_active", "paused_reason", "created_at", "updated_at"]
        # The service checks the (owner, name) constraint and answers with a field error.
        validators: list[Any] = []
        # A name with spaces at either end is refused (the schema's pattern), not trimmed.
        extra_kwargs = {"name": {"trim_whitespace": False}}

    def to_representation(self, instance: Strategy) -> dict[str, Any]:
        data = super().to_representation(instance)
        if isinstance(instance.parameters, dict):
            data["parameters"] = parameters_as_answered(instance.kind, instance.parameters)
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, Any] = {}
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        if "parameters" in attrs or "kind" in attrs:
            parameters = attrs.get("parameters", getattr(self.instance, "parameters", {}))
            problems = parameter_errors(kind, parameters)
            if problems:
                errors["parameters"] = problems
        if "crontab" in attrs or "crontab_timezone" in attrs:
            trigger = trigger_field_errors(
                crontab=attrs.get("crontab", getattr(self.instance, "crontab", "")),
                timezone=attrs.get(
                    "crontab_timezone", getattr(self.instance, "crontab_timezone", "UTC")
                ),
            )
            errors.update({name: [message] for name, message in trigger.items()})
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def parameter_errors(kind: str | None, parameters: dict[str, Any]) -> dict[str, list[str]]:
    """Messages by parameter name (`non_field_errors` for the whole object); empty when valid."""
    if kind is None:
        return {}
    if any(_has_nul(name) or _has_nul(value) for name, value in parameters.items()):
        return {"non_field_errors": ["text may not contain NUL characters"]}
    return {
        ("non_field_errors" if name == "__all__" else name): [message]
        for name, message in engine_parameter_errors(kind, parameters).items()
    }


def _has_nul(value: Any) -> bool:
    """PostgreSQL refuses NUL inside JSON text; a 400 here beats a 500 there."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class TaskSerializer(serializers.Serializer):
    task_id = serializers.CharField(help_text="The Celery task that runs the strategy.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True})
class BoundField(serializers.Field):
    """A numeric bound as a decimal string (like every number in this API), or null."""

    def to_representation(self, value: Decimal | int | None) -> str | None:
        return None if value is None else fixed(value)


class ParameterSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=[(t.value, t.value) for t in ParamType])
    default = serializers.JSONField(help_text="Of the parameter's type; decimals as strings.")
    minimum = BoundField(help_text="Smallest allowed value (inclusive), numbers only.")
    maximum = BoundField(help_text="Largest allowed value (inclusive), numbers only.")
    help = serializers.CharField()


class StrategyKindSerializer(serializers.Serializer):
    """A registered strategy class: what `kind` accepts and the form of its `parameters`."""

    key = serializers.CharField(help_text="The value of a strategy's `kind`.")
    name = serializers.CharField(source="display_name")
    description = serializers.SerializerMethodField()
    parameters = serializers.SerializerMethodField()

    def get_description(self, strategy_class: type[BaseStrategy]) -> str:
        first_paragraph = (strategy_class.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(first_paragraph.split())

    @extend_schema_field(ParameterSerializer(many=True))
    def get_parameters(self, strategy_class: type[BaseStrategy]) -> list[dict[str, Any]]:
        described = []
        for name, param in strategy_class.parameters.items():
            default = param.default
            if param.type is ParamType.DECIMAL:
                default = fixed(default)
            described.append({**vars(param), "name": name, "default": default})
        return ParameterSerializer(described, many=True).data


class StrategyRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = StrategyRun
        fields = [
            "id",
            "strategy",
            "scheduled_tick",
            "status",
            "signal",
            "parameters",
            "reason",
            "error_class",
            "error_message",
            "started_at",
            "finished_at",
            "celery_task_id",
            "trigger",
        ]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    """An order; its amounts, prices and fee as text in its market's precision (0.10 USD)."""

    class Meta:
        model = Order
        fields = [
            "id",
            "strategy",
            "run",
            "mode",
            "side",
            "type",
            "amount",
            "price",
            "filled_amount",
            "average_price",
            "fee",
            "status",
            "client_order_id",
            "exchange_order_id",
            "error_message",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Order) -> dict[str, Any]:
        data = super().to_representation(instance)
        rules = MarketRules.from_market(instance.strategy.market)
        for name, what in ORDER_NUMBERS.items():
            data[name] = shown(rules, getattr(instance, name), what)
        return data


ORDER_NUMBERS = {
    "amount": "amount",
    "filled_amount": "amount",
    "price": "price",
    "average_price": "price",
    "fee": "money",
}


# --- Query parameters ----------------------------------------------------------------------


class StrategyFilter(serializers.Serializer):
    is_active = serializers.BooleanField(required=False)
    mode = serializers.ChoiceField(choices=Strategy.Mode.choices, required=False)
    kind = serializers.CharField(
        required=False, max_length=50, trim_whitespace=False, help_text="e.g. dca"
    )
    market = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Market id."
    )


class RunFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=StrategyRun.Status.choices, required=False)
    since = serializers.DateTimeField(
        required=False, help_text="Runs of ticks from this time on (inclusive)."
    )


class OrderFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    since = serializers.DateTimeField(
        required=False, help_text="Orders created from this time on (inclusive)."
    )
