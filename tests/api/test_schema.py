"""The OpenAPI schema generates without a warning and documents write-only secrets."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_generation_is_valid_and_warning_free(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    err = io.StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), stderr=err)

    schema = yaml.safe_load(target.read_text())
    assert err.getvalue() == ""
    assert schema["openapi"].startswith("3.")
    assert "/api/accounts/{id}/" in schema["paths"]


def test_secrets_appear_in_request_components_only(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))

    components = yaml.safe_load(target.read_text())["components"]["schemas"]

    assert "api_secret" in components["ExchangeAccountRequest"]["properties"]
    assert "api_secret" in components["ExchangeAccountRequest"]["required"]
    assert "api_secret" not in components["PatchedExchangeAccountUpdateRequest"].get("required", [])
    assert "api_secret" not in components["ExchangeAccount"]["properties"]


def test_a_strategys_market_is_written_as_an_id_or_a_label_and_answered_as_the_id(
    tmp_path: Path,
) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))

    components = yaml.safe_load(target.read_text())["components"]["schemas"]
    written = components["StrategyRequest"]["properties"]["market"]
    answered = components["Strategy"]["properties"]["market"]

    assert [choice["type"] for choice in written["oneOf"]] == ["integer", "string"]
    assert "exchange:SYMBOL" in written["description"]
    assert answered["type"] == "integer"
    assert "oneOf" not in answered
