"""Admin for marketdata: exchanges and watchlists are edited; exchange data is read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from marketdata.accounts import SECRET_FIELDS, account_create, account_update
from marketdata.models import (
    BalanceSnapshot,
    Candle,
    Exchange,
    ExchangeAccount,
    Market,
    Ticker,
    Watchlist,
)
from project.kernel.display import ReadOnlyAdmin, decimal_column

PRICES = ("open", "high", "low", "close", "volume")


@admin.register(Exchange)
class ExchangeAdmin(admin.ModelAdmin):
    list_display = (
        "name", "ccxt_id", "sandbox", "api_url", "enabled", "last_success_at", "last_error_at"
    )  # fmt: skip
    list_filter = ("enabled", "sandbox", "ccxt_id")
    search_fields = ("name", "ccxt_id")
    readonly_fields = ("last_success_at", "last_error_at", "last_error", "created_at")
    # A URL typed without a scheme is an exchange's public endpoint: https, as Django 6 assumes.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Market)
class MarketAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "exchange", "base", "quote", "active", "inactive_since")
    list_filter = ("exchange", "active", "quote")
    search_fields = ("symbol", "exchange_symbol", "base", "quote")


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ("market", "timeframe", "open_time", *map(decimal_column, PRICES), "is_closed")
    list_filter = ("timeframe", "is_closed", "market__exchange", "market__symbol")
    list_select_related = ("market__exchange",)
    date_hierarchy = "open_time"
    ordering = ("-open_time",)
    show_full_result_count = False


@admin.register(Ticker)
class TickerAdmin(ReadOnlyAdmin):
    list_display = ("market", "time", *map(decimal_column, ("last", "bid", "ask", "volume")))
    list_filter = ("market__exchange", "market__symbol")
    list_select_related = ("market__exchange",)
    date_hierarchy = "time"
    show_full_result_count = False


@admin.register(Watchlist)
class WatchlistAdmin(admin.ModelAdmin):
    list_display = ("market", "timeframe", "enabled")
    list_filter = ("enabled", "timeframe", "market__exchange")
    list_editable = ("enabled",)
    autocomplete_fields = ("market",)


# --- Exchange accounts and balances: secrets are write-only ---------------------------------

KEEP_HELP = "Stored encrypted and never shown. Leave blank to keep the stored value."


class ExchangeAccountAdminForm(forms.ModelForm):
    """Password inputs that never render the stored secret; blank keeps it on a change."""

    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    api_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    api_passphrase = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = ExchangeAccount
        fields = ["owner", "exchange", "label", *SECRET_FIELDS, "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        adding = self.instance.pk is None
        for name in SECRET_FIELDS:
            # Not even the form's memory keeps the stored plaintext: changed_data compares to "".
            self.initial[name] = ""
            if not adding:
                self.fields[name].help_text = KEEP_HELP
        if adding:
            self.fields["api_key"].required = True
            self.fields["api_secret"].required = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is not None:
            for name in SECRET_FIELDS:
                if not cleaned.get(name):
                    cleaned.pop(name, None)
        return cleaned


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    form = ExchangeAccountAdminForm
    list_display = ["label", "owner", "exchange", "active", "status", "updated_at"]
    list_filter = ["status", "active", "exchange"]
    search_fields = ["label", "owner__username"]
    readonly_fields = ["status", "status_reason", "created_at", "updated_at"]
    list_select_related = ["owner", "exchange"]

    def save_model(
        self, request: HttpRequest, obj: ExchangeAccount, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        secrets = {name: data[name] for name in SECRET_FIELDS if data.get(name)}
        if change:
            account_update(account=obj, label=data["label"], active=data["active"], **secrets)
            return
        created = account_create(
            owner=data["owner"],
            exchange=data["exchange"],
            label=data["label"],
            active=data["active"],
            **secrets,
        )
        # The admin goes on with `obj` (history, redirect): give it the saved row's identity.
        obj.pk = created.pk
        obj._state.adding = False
        obj.refresh_from_db()


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(ReadOnlyAdmin):
    """Snapshots are what an exchange reported: read-only here."""

    list_display = ["account", "asset", *map(decimal_column, ("free", "used", "total")), "taken_at"]
    list_filter = ["asset", "account__exchange"]
    search_fields = ["account__label", "account__owner__username", "asset"]
    date_hierarchy = "taken_at"
    list_select_related = ["account__exchange"]
