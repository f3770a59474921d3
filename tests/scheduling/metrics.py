"""Scraping /metrics in tests: the bearer token, fresh kept totals, the samples by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from django.core.cache import cache
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_token(settings: Settings) -> Iterator[None]:
    """The token set; the kept totals, which live in Redis and outlive a test's database
    rollback, cleared before and after."""
    from tasks.metrics import TOTALS_KEY

    settings.METRICS_TOKEN = TOKEN
    cache.delete(TOTALS_KEY)
    yield
    cache.delete(TOTALS_KEY)


def scrape(client: Client) -> dict[str, float]:
    """Every sample, keyed `name{label=value,...}` (labels sorted) or `name`."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples
