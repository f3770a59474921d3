"""REST API views for strategies (lifecycle actions, runs, orders) and the registered kinds."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from project.kernel.api import CursorPagination, OwnedViewSetMixin, validated_query
from project.kernel.scheduling import SchedulerError
from strategies import serializers, services
from strategies.engine import get_strategy_class, strategy_choices
from strategies.models import Order, Strategy, StrategyRun
from strategies.performance import strategy_performance
from strategies.performance_api import TradesSerializer, trades_data


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class SchedulerUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "scheduler_unavailable"


class RunPagination(CursorPagination):
    ordering = ("-scheduled_tick", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class OrderPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


STRATEGY_RESPONSES = {
    200: serializers.StrategySerializer,
    409: OpenApiResponse(serializers.ErrorSerializer, description="Not possible in this state."),
    503: OpenApiResponse(serializers.ErrorSerializer, description="The scheduler is unavailable."),
}


class StrategyViewSet(OwnedViewSetMixin, viewsets.ModelViewSet):
    """Your strategies (everyone's, read-only, for staff). Created stopped; `start` schedules a
    strategy's job, `stop` removes it. Every change goes through the lifecycle services, so a
    strategy and its job never disagree, and a refused change saves nothing."""

    queryset = Strategy.objects.select_related("owner", "market__exchange")
    serializer_class = serializers.StrategySerializer
    write_error_statuses = (409, 503)  # see _call

    def get_queryset(self) -> QuerySet[Strategy]:
        strategies = super().get_queryset()
        if self.action != "list":
            return strategies
        query = validated_query(serializers.StrategyFilter, self.request)
        for name in ("is_active", "mode", "kind"):
            if name in query:
                strategies = strategies.filter(**{name: query[name]})
        if "market" in query:
            strategies = strategies.filter(market_id=query["market"])
        return strategies

    @extend_schema(parameters=[serializers.StrategyFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = self._call(
            services.strategy_create, owner=self.request.user, data=serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        self._call(
            services.strategy_update, strategy=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Strategy) -> None:
        self._call(services.strategy_delete, strategy=instance)

    @extend_schema(request=None, responses=STRATEGY_RESPONSES)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        """Activate the strategy: its job is created (or fixed) and fires from the next tick."""
        strategy = self._call(services.strategy_start, strategy=self.get_object())
        return Response(self.get_serializer(strategy).data)

    @extend_schema(request=None, responses=STRATEGY_RESPONSES)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        """Deactivate the strategy and remove its job; a run already going finishes."""
        strategy = self._call(services.strategy_stop, strategy=self.get_object())
        return Response(self.get_serializer(strategy).data)

    @extend_schema(
        request=None,
        responses={
            202: serializers.TaskSerializer,
            409: OpenApiResponse(
                serializers.ErrorSerializer, description="The strategy is stopped."
            ),
            503: STRATEGY_RESPONSES[503],
        },
    )
    @action(detail=True, methods=["post"], url_path="run-now")
    def run_now(self, request: Request, pk: str | None = None) -> Response:
        """Run an active strategy once now, besides its schedule; answers with the task id."""
        task_id = self._call(services.strategy_run_now, strategy=self.get_object())
        return Response({"task_id": task_id}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[serializers.RunFilter], responses=serializers.StrategyRunSerializer(many=True)
    )
    @action(
        detail=True,
        pagination_class=RunPagination,
        serializer_class=serializers.StrategyRunSerializer,
    )
    def runs(self, request: Request, pk: str | None = None) -> Response:
        """The strategy's runs, newest tick first, a cursor page at a time."""
        query = validated_query(serializers.RunFilter, request)
        runs = StrategyRun.objects.filter(strategy=self.get_object())
        if "status" in query:
            runs = runs.filter(status=query["status"])
        if "since" in query:
            runs = runs.filter(scheduled_tick__gte=query["since"])
        return self._page(runs)

    @extend_schema(
        parameters=[serializers.OrderFilter], responses=serializers.OrderSerializer(many=True)
    )
    @action(
        detail=True,
        pagination_class=OrderPagination,
        serializer_class=serializers.OrderSerializer,
    )
    def orders(self, request: Request, pk: str | None = None) -> Response:
        """The strategy's orders, newest first, a cursor page at a time."""
        query = validated_query(serializers.OrderFilter, request)
        orders = Order.objects.filter(strategy=self.get_object()).select_related("strategy__market")
        if "status" in query:
            orders = orders.filter(status=query["status"])
        if "since" in query:
            orders = orders.filter(created_at__gte=query["since"])
        return self._page(orders)

    @extend_schema(responses=TradesSerializer)
    @action(detail=True, pagination_class=None)
    def trades(self, request: Request, pk: str | None = None) -> Response:
        """Round trips (FIFO): the summary, the open trade, the newest 500 closed trades."""
        strategy = self.get_object()
        return Response(trades_data(strategy_performance(strategy=strategy), strategy))

    def _page(self, queryset: QuerySet[Any]) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _call(self, service: Any, **kwargs: Any) -> Any:
        """Run a lifecycle service; its refusals become 409, an unreachable scheduler 503.

        Validation errors (Django's ValidationError) pass through: the API's exception handler
        answers them with a 400 by field.
        """
        try:
            return service(**kwargs)
        except services.StrategyError as error:
            raise Conflict(str(error)) from None
        except SchedulerError as error:
            raise SchedulerUnavailable(str(error)) from None


class StrategyKindViewSet(viewsets.ViewSet):
    """The registered strategy kinds with their parameter schema, to build a strategy form."""

    pagination_class = None

    @extend_schema(responses=serializers.StrategyKindSerializer(many=True))
    def list(self, request: Request) -> Response:
        kinds = [get_strategy_class(key) for key, _ in strategy_choices()]
        return Response(serializers.StrategyKindSerializer(kinds, many=True).data)
