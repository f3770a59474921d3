"""How numbers read on pages: decimals without the padding zeros of their 12 stored places."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.contrib import admin
from django.db.models import Model


def plain(value: Decimal | None) -> str | None:
    """A decimal as fixed-point text without trailing zeros: 57527.66, 0.00000001, 100."""
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def decimal_column(name: str, description: str | None = None) -> Callable[[Model], str]:
    """An admin list column showing a decimal field as `plain` text, sortable by the field."""

    @admin.display(description=description or name.replace("_", " "), ordering=name)
    def column(obj: Model) -> str:
        return plain(getattr(obj, name)) or "-"

    column.__name__ = f"{name}_plain"
    return column
