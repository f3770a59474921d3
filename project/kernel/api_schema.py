"""The OpenAPI schema's generator: drf-spectacular's, plus every error each operation can give.

Apart from project/kernel/api.py: DRF loads that module while its views are still importing, and
drf-spectacular imports those views.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

from project.kernel.api_fields import AmountField
from project.kernel.validators import AMOUNT_TEXT


class ApiErrorSerializer(serializers.Serializer):
    """Every error but a validation error: one message."""

    detail = serializers.CharField()


# A 400 names each bad field (nested for nested values), or has one `detail` (malformed body).
VALIDATION_ERROR = {
    "type": "object",
    "description": "Messages by field name (`non_field_errors` for the whole body), or `detail`.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}
ERROR_DESCRIPTIONS = {
    400: "Invalid input: messages by field, or `detail` for a malformed body.",
    401: "No valid credentials (send `Authorization: Token <key>`).",
    403: "Authenticated, but not allowed (or a missing CSRF token for a session).",
    404: "No such object (or not yours), page or cursor.",
    409: "Not possible in the object's current state.",
    413: "Request body too large.",
    415: "Unsupported media type: send application/json.",
    429: "Too many writes: wait as long as `Retry-After` says.",
    503: "A service it depends on (the scheduler) is unavailable: retry later.",
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema plus the errors each operation can answer, found from the view
    (authentication, throttles, body, parameters); a view adds its own domain errors with
    `write_error_statuses` (e.g. 409, 503 for writes that call the scheduler)."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status in self.error_statuses():
            body = VALIDATION_ERROR if status == 400 else ApiErrorSerializer
            response = OpenApiResponse(body, description=ERROR_DESCRIPTIONS[status])
            responses.setdefault(
                str(status), self._get_response_for_code(response, str(status), direction=direction)
            )
        return responses

    def error_statuses(self) -> list[int]:
        writes = self.method not in permissions.SAFE_METHODS
        has_body = writes and self.get_request_serializer() is not None
        has_query = any(p["in"] == "query" for p in self._get_parameters())
        statuses = set()
        if not all(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions()):
            statuses |= {401, 403}
        if has_body or has_query:
            statuses.add(400)
        if self.method == "DELETE":
            statuses.add(409)  # refused by the object's state (project.kernel.api.handle_exception)
        if "{" in self.path or (self._is_list_view() and self._get_paginator()):
            statuses.add(404)
        if has_body:
            statuses.add(415)
        if writes:
            statuses.add(413)  # any body, read or not (project.middleware)
            if self.view.get_throttles():
                statuses.add(429)
            statuses |= set(getattr(self.view, "write_error_statuses", ()))
        return sorted(statuses)


class AmountFieldExtension(OpenApiSerializerFieldExtension):
    """An amount is text of digits: no sign, no exponent (drf-spectacular's decimal pattern
    allows "-" and "")."""

    target_class = AmountField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"type": "string", "format": "decimal", "pattern": AMOUNT_TEXT}
