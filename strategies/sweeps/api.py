"""REST API of sweeps: create, list, progress, cancel, the top sets, the folds, promote a set."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from project.kernel.api import OwnedViewSetMixin
from strategies.api import Conflict
from strategies.errors import StrategyError
from strategies.serializers import ErrorSerializer
from strategies.sweeps import planning, selectors, services
from strategies.sweeps import serializers as s
from strategies.sweeps.models import Sweep

CONFLICT = OpenApiResponse(ErrorSerializer, description="Not possible in this state.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such set in this sweep.")


class SweepViewSet(
    OwnedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Your parameter sweeps. Created running: its sets are backtested on the `backtests`
    workers; `progress` says how far. A set is promoted to a stopped paper strategy."""

    queryset = Sweep.objects.select_related("owner", "market")
    serializer_class = s.SweepSerializer

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.sweep_create(
            owner=self.request.user, data=serializer.validated_data
        )

    @extend_schema(request=None, responses={200: s.SweepSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Stop the sweep: each chunk stops before its next set; the results so far stay."""
        sweep = _call(services.sweep_cancel, sweep=self.get_object())
        return Response(self.get_serializer(sweep).data)

    @extend_schema(
        parameters=[OpenApiParameter("window", str, description="all (default), is<n>, oos<n>")],
        responses=s.SweepSetSerializer(many=True),
    )
    @action(detail=True, pagination_class=None)
    def results(self, request: Request, pk: str | None = None) -> Response:
        """The 20 best ranked sets of a window by the sweep's objective."""
        window = request.query_params.get("window", planning.ALL)[:12]
        top = selectors.sweep_top(sweep=self.get_object(), window=window)
        return Response(s.SweepSetSerializer(top, many=True).data)

    @extend_schema(responses=s.FoldSerializer(many=True))
    @action(detail=True, pagination_class=None)
    def folds(self, request: Request, pk: str | None = None) -> Response:
        """Walk-forward: per fold the in-sample best, its out-of-sample result, the efficiency
        (out-of-sample over in-sample) and whether it looks overfitted."""
        reports = selectors.sweep_folds_report(sweep=self.get_object())
        return Response(s.FoldSerializer(reports, many=True).data)

    @extend_schema(
        request=s.PromoteSerializer,
        responses={201: s.PromotionSerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str | None = None) -> Response:
        """A stopped paper strategy with the set's parameters, recording the sweep and fold;
        a set flagged as likely overfitted needs `confirm_overfitted`."""
        sweep = self.get_object()
        body = s.PromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sweep_set = sweep.sets.filter(pk=body.validated_data["set"]).first()
        if sweep_set is None:
            raise exceptions.NotFound("no such set in this sweep")
        promotion = _call(
            services.sweep_promote,
            sweep=sweep,
            sweep_set=sweep_set,
            owner=request.user,
            name=body.validated_data["name"],
            confirm_overfitted=body.validated_data["confirm_overfitted"],
        )
        return Response(s.PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)


def _call(service: Any, **kwargs: Any) -> Any:
    """A sweep service; a refusal in the sweep's or set's state is a 409."""
    try:
        return service(**kwargs)
    except StrategyError as error:
        raise Conflict(str(error)) from None
