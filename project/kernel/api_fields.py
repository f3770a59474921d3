"""Serializer fields the API's apps share: amounts as decimal text within their bounds.

Apart from project/kernel/api.py, which imports rest_framework.views: serializers that load before
DRF's views (through the admin) would otherwise import the settings' classes half-made.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from project.kernel.decimals import STORED_DIGITS
from project.kernel.validators import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX


class AmountField(serializers.DecimalField):
    """An amount of an asset, as text ("0.5"), from 0 to AMOUNT_MAX with the stored places at
    most: text keeps every digit, where a JSON number would pass through a float."""

    default_error_messages = {"not_text": 'Send the amount as text, e.g. "0.5".'}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_digits=STORED_DIGITS,
            decimal_places=AMOUNT_DECIMAL_PLACES,
            min_value=Decimal(0),
            max_value=AMOUNT_MAX,
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)
