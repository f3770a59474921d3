"""API serializers for exchanges, markets, candles, accounts and balances; secrets write-only."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from marketdata.accounts import SECRET_FIELDS
from marketdata.models import (
    BalanceSnapshot,
    Candle,
    Exchange,
    ExchangeAccount,
    Market,
    Timeframe,
)
from project.kernel.validators import visible_text

# Ids in query parameters stay inside PostgreSQL's bigint.
MAX_ID = 2**63 - 1
# Exchange credentials are short; a bound keeps junk out of the encrypted columns.
SECRET_MAX_LENGTH = 512


class ExchangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Exchange
        fields = [
            "id", "name", "ccxt_id", "sandbox", "enabled", "last_success_at", "last_error_at"
        ]  # fmt: skip
        read_only_fields = fields


class MarketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Market
        fields = [
            "id",
            "exchange",
            "symbol",
            "exchange_symbol",
            "base",
            "quote",
            "active",
            "precision",
            "precision_mode",
            "limits",
        ]
        read_only_fields = fields


class CandleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Candle
        fields = [
            "market",
            "timeframe",
            "open_time",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "is_closed",
        ]
        read_only_fields = fields


def secret_field(*, required: bool) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        required=required,
        allow_blank=not required,
        trim_whitespace=False,
        validators=[visible_text(allow_blank=not required)],
        max_length=SECRET_MAX_LENGTH,
        style={"input_type": "password"},
    )


class ExchangeAccountSerializer(serializers.ModelSerializer):
    """Creates an account: the credentials go in and never come back out."""

    exchange = serializers.PrimaryKeyRelatedField(queryset=Exchange.objects.filter(enabled=True))
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    api_key = secret_field(required=True)
    api_secret = secret_field(required=True)
    api_passphrase = secret_field(required=False)

    class Meta:
        model = ExchangeAccount
        fields = [
            "id",
            "owner",
            "exchange",
            "label",
            *SECRET_FIELDS,
            "active",
            "status",
            "status_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "status_reason", "created_at", "updated_at"]
        # The service checks the (owner, label) constraint and answers with a field error.
        validators: list[Any] = []
        # A label with spaces at either end is refused (the schema's pattern), not trimmed.
        extra_kwargs = {"label": {"trim_whitespace": False}}


class ExchangeAccountUpdateSerializer(ExchangeAccountSerializer):
    """Changes an account: credentials left out or blank keep the stored ones."""

    exchange = serializers.PrimaryKeyRelatedField(read_only=True)
    api_key = secret_field(required=False)
    api_secret = secret_field(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in attrs.items() if k not in SECRET_FIELDS or v}


class BalanceSerializer(serializers.ModelSerializer):
    class Meta:
        model = BalanceSnapshot
        fields = ["account", "asset", "free", "used", "total", "taken_at"]
        read_only_fields = fields


class BalanceSnapshotSerializer(BalanceSerializer):
    """One snapshot of the history (its own name: history pages by cursor, without a count)."""


# --- Query parameters ----------------------------------------------------------------------


class TimeRangeFilter(serializers.Serializer):
    start = serializers.DateTimeField(required=False, help_text="From this time (inclusive).")
    end = serializers.DateTimeField(required=False, help_text="Until this time (exclusive).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "start" in attrs and "end" in attrs and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": "Must be later than start."})
        return attrs


class MarketFilter(serializers.Serializer):
    exchange = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Exchange id."
    )
    # Filters match as given (no trimming): what the schema allows is what is looked up.
    symbol = serializers.CharField(
        required=False, max_length=50, trim_whitespace=False, help_text="e.g. BTC/USD"
    )
    active = serializers.BooleanField(required=False)


class CandleFilter(TimeRangeFilter):
    market = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Market id."
    )
    timeframe = serializers.ChoiceField(choices=Timeframe.choices, required=False)


class BalanceFilter(serializers.Serializer):
    account = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Exchange account id."
    )
    asset = serializers.CharField(
        required=False, max_length=20, trim_whitespace=False, help_text="e.g. BTC"
    )


class BalanceHistoryFilter(BalanceFilter, TimeRangeFilter):
    pass
