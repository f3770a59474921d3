"""REST API building blocks every app's viewsets share: ownership, throttling, paging, errors in
one JSON shape (their schema, parser and fields: api_schema.py, parsers.py and api_fields.py
beside it)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from redis.exceptions import RedisError

# DRF imports the throttle class while rest_framework.views is still loading: import that
# module, not names from it.
from rest_framework import (
    exceptions,
    pagination,
    permissions,
    serializers,
    throttling,
    views,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class IsOwnerOrStaffReader(permissions.BasePermission):
    """The owner may read and change an object; staff may read everyone's.

    Owned querysets are scoped to the user too (see OwnedViewSetMixin), so another user's
    object is a 404 before this is asked; it guards staff from writing to others' objects.
    """

    message = "Only the owner can change this."

    def has_object_permission(self, request: Request, view: APIView, obj: Model) -> bool:
        if view.owner_of(obj) == request.user:  # type: ignore[attr-defined]
            return True
        return request.method in permissions.SAFE_METHODS and request.user.is_staff


def owned(queryset: QuerySet[Any], request: Request, owner_field: str = "owner") -> QuerySet[Any]:
    """What the request's user may see of `queryset`: their own objects, or all for staff."""
    if request.user.is_staff:
        return queryset
    return queryset.filter(**{owner_field: request.user})


class OwnedViewSetMixin:
    """Scopes a viewset to objects its user owns (all of them for staff).

    `owner_field` is the lookup path from the model to the owning user, e.g. "owner" or
    "account__owner". A strategy viewset is `class StrategyViewSet(OwnedViewSetMixin,
    viewsets.ModelViewSet)` with `queryset = Strategy.objects.all()`; its detail actions
    (start, stop, run-now, runs, orders) call `self.get_object()` and inherit the scoping.
    """

    owner_field = "owner"
    permission_classes = [permissions.IsAuthenticated, IsOwnerOrStaffReader]
    request: Request

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()  # type: ignore[misc]
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return queryset.none()
        return self.scope(queryset)

    def scope(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return owned(queryset, self.request, self.owner_field)

    def owner_of(self, obj: Model) -> Any:
        for part in self.owner_field.split("__"):
            obj = getattr(obj, part)
        return obj


class WriteRateThrottle(throttling.UserRateThrottle):
    """Limits each user's writes (POST, PUT, PATCH, DELETE); reads are not limited."""

    scope = "writes"

    def get_rate(self) -> str | None:
        # Read at each request (DRF reads at import), so a changed setting applies at once.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        try:
            return super().allow_request(request, view)
        except RedisError as error:
            # Fails open, by choice: with its counters' Redis down, a write (stopping a
            # strategy, above all) still goes through, unthrottled for the outage, rather than
            # being refused.
            logger.warning("write throttle skipped: its Redis is unreachable: %s", error)
            return True


class StrictPageSize:
    """`page_size` outside 1..max_page_size is a 400, not quietly the default (DRF's way)."""

    page_size: int
    page_size_query_param = "page_size"
    max_page_size: int

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdecimal() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"must be a whole number 1-{self.max_page_size}"]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)  # type: ignore[misc]
        bounds = {
            "page_size": {"minimum": 1, "maximum": self.max_page_size},
            "page": {"minimum": 1},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class PageNumberPagination(StrictPageSize, pagination.PageNumberPagination):
    page_size = 100
    max_page_size = 1000

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        # DRF reads an empty `page=` as page 1; here it is an invalid page (a 404) like "x".
        return request.query_params.get(self.page_query_param, 1)


class CursorPagination(StrictPageSize, pagination.CursorPagination):
    """Set `ordering`, `page_size` and `max_page_size` in a subclass."""


def validated_query(serializer_class: type[serializers.Serializer], request: Request) -> Any:
    """Query parameters checked by a serializer: a bad value is a 400 naming the parameter."""
    # A plain dict: given a QueryDict, DRF reads a missing boolean as an unticked box (False).
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Errors and their schema ---------------------------------------------------------------


class Conflict(exceptions.APIException):
    status_code = 409
    default_code = "conflict"


def handle_exception(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django's ValidationError (raised by services) as a 400 by field, or
    as a 409 for a DELETE (it sends no input: what refuses it is the object's state); a bare
    list of messages (`ValidationError("...")`) comes back as `non_field_errors`."""
    request = context.get("request")
    deleting = request is not None and request.method == "DELETE"
    if isinstance(exc, DjangoValidationError) and deleting:
        exc = Conflict(" ".join(exc.messages))
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=serializers.as_serializer_error(exc))
    response = views.exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {api_settings.NON_FIELD_ERRORS_KEY: response.data}
    return response
