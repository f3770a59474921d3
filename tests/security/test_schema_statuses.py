"""The schema lists the error statuses each operation can answer, with a JSON body each."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

WRITES = {"post", "put", "patch", "delete"}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", *WRITES}
    ]


def test_every_operation_lists_401_and_403_with_a_json_body() -> None:
    for method, path, operation in operations():
        for status in ("401", "403"):
            response = operation["responses"].get(status)
            assert response, (method, path, status)
            assert "application/json" in response["content"], (method, path, status)


def test_writes_list_throttling_and_too_large_bodies_and_objects_list_404() -> None:
    for method, path, operation in operations():
        statuses = set(operation["responses"])
        if method in WRITES:
            assert {"413", "429"} <= statuses, (method, path)
        if "{id}" in path:
            assert "404" in statuses, (method, path)


def test_domain_errors_are_listed_where_they_happen() -> None:
    listed = {(method, path): set(op["responses"]) for method, path, op in operations()}

    assert "409" in listed["delete", "/api/accounts/{id}/"]
    assert {"409", "503"} <= listed["patch", "/api/strategies/{id}/"]
    assert {"409", "503"} <= listed["post", "/api/strategies/{id}/start/"]
    assert "400" in listed["get", "/api/strategies/"]
    assert "400" not in listed["get", "/api/strategies/{id}/"]
