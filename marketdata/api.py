"""REST API views for exchanges, markets, candles, exchange accounts and balances."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from marketdata import accounts, selectors, serializers
from marketdata.models import BalanceSnapshot, Candle, Exchange, ExchangeAccount, Market
from project.kernel.api import CursorPagination, OwnedViewSetMixin, owned, validated_query


class ExchangeViewSet(viewsets.ReadOnlyModelViewSet):
    """Exchanges the service collects from; managed by staff in the admin."""

    queryset = Exchange.objects.all()
    serializer_class = serializers.ExchangeSerializer


class MarketViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Market.objects.all()
    serializer_class = serializers.MarketSerializer

    def get_queryset(self) -> QuerySet[Market]:
        markets = super().get_queryset()
        if self.action != "list":
            return markets
        query = validated_query(serializers.MarketFilter, self.request)
        if "exchange" in query:
            markets = markets.filter(exchange_id=query["exchange"])
        if "symbol" in query:
            markets = markets.filter(symbol=query["symbol"])
        if "active" in query:
            markets = markets.filter(active=query["active"])
        return markets

    @extend_schema(parameters=[serializers.MarketFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class CandlePagination(CursorPagination):
    ordering = "open_time"
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000


class CandleViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """OHLCV bars, oldest first, a cursor page at a time."""

    queryset = Candle.objects.all()
    serializer_class = serializers.CandleSerializer
    pagination_class = CandlePagination

    def get_queryset(self) -> QuerySet[Candle]:
        candles = super().get_queryset()
        query = validated_query(serializers.CandleFilter, self.request)
        if "market" in query:
            candles = candles.filter(market_id=query["market"])
        if "timeframe" in query:
            candles = candles.filter(timeframe=query["timeframe"])
        if "start" in query:
            candles = candles.filter(open_time__gte=query["start"])
        if "end" in query:
            candles = candles.filter(open_time__lt=query["end"])
        return candles

    @extend_schema(parameters=[serializers.CandleFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class ExchangeAccountViewSet(OwnedViewSetMixin, viewsets.ModelViewSet):
    """A user's exchange accounts. Credentials are write-only: sent on create or update, never
    returned. On update, credentials left out or blank keep the stored ones; new ones clear
    `needs_attention`."""

    queryset = ExchangeAccount.objects.select_related("owner", "exchange")

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action in ("update", "partial_update"):
            return serializers.ExchangeAccountUpdateSerializer
        return serializers.ExchangeAccountSerializer

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = accounts.account_create(
            owner=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = accounts.account_update(
            account=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance: ExchangeAccount) -> None:
        accounts.account_delete(account=instance)


class BalanceHistoryPagination(CursorPagination):
    ordering = "-taken_at"
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000


class BalanceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Balances of the user's accounts (all accounts for staff): latest per asset, and history."""

    queryset = BalanceSnapshot.objects.all()
    serializer_class = serializers.BalanceSerializer

    def visible_accounts(self, account_id: int | None) -> QuerySet[ExchangeAccount]:
        visible = owned(ExchangeAccount.objects.all(), self.request)
        return visible if account_id is None else visible.filter(pk=account_id)

    def get_queryset(self) -> QuerySet[BalanceSnapshot]:
        if getattr(self, "swagger_fake_view", False):
            return BalanceSnapshot.objects.none()
        if self.action == "history":
            query = validated_query(serializers.BalanceHistoryFilter, self.request)
            return selectors.balances_history(
                accounts=self.visible_accounts(query.get("account")),
                asset=query.get("asset", ""),
                start=query.get("start"),
                end=query.get("end"),
            )
        query = validated_query(serializers.BalanceFilter, self.request)
        latest = selectors.balances_latest(accounts=self.visible_accounts(query.get("account")))
        return latest.filter(asset=query["asset"]) if "asset" in query else latest

    @extend_schema(parameters=[serializers.BalanceFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The newest snapshot of each asset of each account."""
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[serializers.BalanceHistoryFilter],
        responses=serializers.BalanceSnapshotSerializer(many=True),
    )
    @action(
        detail=False,
        pagination_class=BalanceHistoryPagination,
        serializer_class=serializers.BalanceSnapshotSerializer,
    )
    def history(self, request: Request) -> Response:
        """Every snapshot, newest first, a cursor page at a time."""
        return super().list(request)
