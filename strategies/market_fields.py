"""The market typed as `exchange:SYMBOL` in the admin's form and the API, with suggestions.

Both fields call `marketdata.selectors.market_by_label`, the one rule for reading a market's
label; the admin's text input lists matching labels as you type (`market_suggestions`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from marketdata.models import Market
from marketdata.selectors import MarketNotFound, market_by_label, market_labels_matching


class MarketInput(forms.TextInput):
    """A text input with a datalist that strategy-form.js fills from `market_suggestions`."""

    template_name = "strategies/market_input.html"

    class Media:
        js = ("strategies/market-input.js",)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        widget_attrs["list"] = f"{widget_attrs.get('id', name)}-options"
        widget_attrs["data-suggest"] = reverse("strategies:market-suggestions")
        widget_attrs["placeholder"] = "exchange:SYMBOL, e.g. demo:BTC/USD"
        widget_attrs["autocomplete"] = "off"
        return context


class MarketLabelField(forms.ModelChoiceField):
    widget = MarketInput

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Market):
            return str(value)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            market = Market.objects.select_related("exchange").filter(pk=value).first()
            return str(market) if market else value
        return value

    def to_python(self, value: Any) -> Market | None:
        if value in self.empty_values:
            return None
        try:
            return market_by_label(label=value, markets=self.queryset)
        except MarketNotFound as error:
            raise ValidationError(str(error), code="invalid_choice") from None


class MarketLabelSerializerField(serializers.PrimaryKeyRelatedField):
    """Accepts the market's id or `exchange:SYMBOL`; answers with the id."""

    def to_internal_value(self, data: Any) -> Market:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            return market_by_label(label=str(data), markets=self.get_queryset())
        except MarketNotFound as error:
            raise serializers.ValidationError(str(error)) from None


class MarketLabelFieldExtension(OpenApiSerializerFieldExtension):
    """The schema says what the field takes: an id, or text that `market_by_label` reads
    (its one rule: no pattern here to go stale); it answers with the id."""

    target_class = MarketLabelSerializerField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        market_id = {"type": "integer", "minimum": 1}
        if direction == "response":
            return market_id
        label = {"type": "string", "example": "demo:BTC/USD"}
        return {"oneOf": [market_id, label]}


@staff_member_required
def market_suggestions(request: HttpRequest) -> JsonResponse:
    """Up to 20 active markets' labels starting like `?q=`: the admin form's autocomplete."""
    text = request.GET.get("q", "")[:100]
    return JsonResponse({"markets": market_labels_matching(text=text)})
