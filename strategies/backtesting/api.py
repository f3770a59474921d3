"""REST API of backtests: create (of a strategy or from scratch), list, progress, cancel,
results, trades and fills a page at a time, and a paper strategy from a finished one."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from project.kernel.api import CursorPagination, OwnedViewSetMixin
from strategies.api import Conflict
from strategies.backtesting import serializers, services
from strategies.backtesting.models import Backtest, BacktestFill, BacktestTrade
from strategies.serializers import StrategySerializer


class SeqPagination(CursorPagination):
    ordering = ("seq",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 5000


class BacktestViewSet(
    OwnedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your backtests (everyone's, read-only, for staff), newest first. A new one is queued on
    the `backtests` workers at once; poll it for `progress_pct` until `status` is final."""

    queryset = Backtest.objects.select_related("owner")
    serializer_class = serializers.BacktestSerializer

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        data = dict(serializer.validated_data)
        strategy = data.pop("strategy", None)
        user = self.request.user
        if strategy is not None:
            backtest = services.backtest_of_strategy(owner=user, strategy=strategy, data=data)
        else:
            backtest = services.backtest_create(owner=user, data=data)
        serializer.instance = backtest

    @extend_schema(request=None, responses=serializers.BacktestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Stop it: a pending one at once, a running one within 1% of its ticks."""
        backtest = services.backtest_cancel(backtest=self.get_object())
        return Response(self.get_serializer(backtest).data)

    @extend_schema(responses=serializers.BacktestTradeSerializer(many=True))
    @action(detail=True, pagination_class=SeqPagination,
            serializer_class=serializers.BacktestTradeSerializer)  # fmt: skip
    def trades(self, request: Request, pk: str | None = None) -> Response:
        """Its round trips in the order they closed (the open one last), a page at a time."""
        return self._page(BacktestTrade.objects.filter(backtest=self.get_object()))

    @extend_schema(responses=serializers.BacktestFillSerializer(many=True))
    @action(detail=True, pagination_class=SeqPagination,
            serializer_class=serializers.BacktestFillSerializer)  # fmt: skip
    def fills(self, request: Request, pk: str | None = None) -> Response:
        """Its fills in tick order, a page at a time."""
        return self._page(BacktestFill.objects.filter(backtest=self.get_object()))

    @extend_schema(request=serializers.ToStrategySerializer, responses={201: StrategySerializer})
    @action(detail=True, methods=["post"], url_path="to-strategy",
            serializer_class=serializers.ToStrategySerializer)  # fmt: skip
    def to_strategy(self, request: Request, pk: str | None = None) -> Response:
        """A stopped paper strategy with this backtest's parameters, recording where it came
        from; 409 unless the backtest has succeeded."""
        backtest = self.get_object()
        body = serializers.ToStrategySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if backtest.status != Backtest.Status.SUCCEEDED:
            raise Conflict("only a finished backtest becomes a strategy")
        strategy = services.strategy_from_backtest(
            owner=request.user, backtest=backtest, name=body.validated_data["name"]
        )
        data = StrategySerializer(strategy, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)

    def _page(self, queryset: QuerySet[Any]) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
