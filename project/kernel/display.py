"""Shared admin pieces: decimals without the padding zeros of their stored places, and rows the
system writes shown read-only."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from project.kernel.decimals import fixed_trimmed


def plain(value: Decimal | None) -> str | None:
    """A decimal as fixed-point text without trailing zeros (57527.66, 0.00000001, 100)."""
    return None if value is None else fixed_trimmed(value)


def decimal_column(name: str, description: str | None = None) -> Callable[[Model], str]:
    """An admin list column showing a decimal field as `plain` text, sortable by the field."""

    @admin.display(description=description or name.replace("_", " "), ordering=name)
    def column(obj: Model) -> str:
        return plain(getattr(obj, name)) or "-"

    column.__name__ = f"{name}_plain"
    return column


class WideChangeListMixin:
    """A list with many columns gets the whole width: no navigation sidebar on its changelist
    (the breadcrumbs lead back), so every column fits a 1366 px screen."""

    def changelist_view(self, request: Any, extra_context: dict[str, Any] | None = None) -> Any:
        context = {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)  # type: ignore[misc]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the system writes (from an exchange, a sweep): shown, never added or edited by
    hand; deleting one stays possible."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
