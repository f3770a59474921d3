"""Sweep services on the real database: validation by field, planning, cancel, promotion."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from strategies.sweeps.models import Sweep, SweepPromotion, SweepSet
from strategies.sweeps.running import chunk_run, set_record
from strategies.sweeps.services import SweepConflict, sweep_cancel, sweep_create, sweep_promote
from tests.factories import MarketFactory, UserFactory
from tests.sweeps.helpers import candles_add, closes_path, sweep_data

pytestmark = pytest.mark.django_db


def test_a_space_the_kind_refuses_is_a_400_by_field_and_saves_nothing() -> None:
    data = sweep_data(MarketFactory(), hours=200, space={"fast": {"values": [0, 5]}}, folds=3)

    with pytest.raises(ValidationError) as caught:
        sweep_create(owner=UserFactory(), data=data)

    assert caught.value.message_dict == {
        "space": ["fast: must be at least 1"],
        "folds": ["walk-forward needs at least 6 folds (or 0 for none)"],
    }
    assert not Sweep.objects.exists()


def test_a_space_with_no_set_passing_the_cross_field_rule_is_refused() -> None:
    space = {"fast": {"values": [30, 40]}, "slow": {"values": [10, 20]}}

    with pytest.raises(ValidationError, match="no set of this space passes"):
        sweep_create(owner=UserFactory(), data=sweep_data(MarketFactory(), hours=200, space=space))


def test_a_grid_is_planned_in_chunks_of_one_window_each_with_folds() -> None:
    data = sweep_data(MarketFactory(), hours=1040, folds=6, chunk_size=7)

    sweep = sweep_create(owner=UserFactory(), data=data)

    rows = SweepSet.objects.filter(sweep=sweep)
    assert rows.filter(window="all").count() == 20
    assert {rows.filter(window=f"is{i}").count() for i in range(6)} == {20}
    for chunk in set(rows.values_list("chunk", flat=True)):
        assert rows.filter(chunk=chunk).values("window").distinct().count() == 1
        assert rows.filter(chunk=chunk).count() <= 7


def test_a_cancelled_sweep_runs_no_further_set_and_keeps_its_results() -> None:
    market = MarketFactory()
    candles_add(market, closes_path(300))
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(market, hours=300))
    chunk_run(sweep_id=sweep.pk, chunk=0)

    sweep_cancel(sweep=sweep)
    ran = chunk_run(sweep_id=sweep.pk, chunk=1)

    assert ran == 0
    assert sweep.sets.filter(done_at__isnull=False).count() == 4
    assert Sweep.objects.get(pk=sweep.pk).status == Sweep.Status.CANCELLED


def test_a_chunk_run_twice_runs_each_set_once() -> None:
    market = MarketFactory()
    candles_add(market, closes_path(300))
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(market, hours=300))

    first = chunk_run(sweep_id=sweep.pk, chunk=2)
    again = chunk_run(sweep_id=sweep.pk, chunk=2)

    assert (first, again) == (4, 0)
    assert set(sweep.sets.filter(chunk=2).values_list("evaluations", flat=True)) == {1}


def test_a_promoted_set_is_a_stopped_paper_strategy_recording_its_sweep_and_fold() -> None:
    market = MarketFactory()
    candles_add(market, closes_path(300))
    owner = UserFactory()
    sweep = sweep_create(owner=owner, data=sweep_data(market, hours=300))
    chunk_run(sweep_id=sweep.pk, chunk=0)
    best = sweep.sets.filter(done_at__isnull=False).order_by("-value").first()

    promotion = sweep_promote(sweep=sweep, sweep_set=best, owner=owner, name="from sweep")

    strategy = promotion.strategy
    assert (strategy.kind, strategy.mode, strategy.is_active) == ("sma_crossover", "paper", False)
    assert strategy.parameters == best.parameters
    assert (promotion.sweep, promotion.sweep_set, promotion.fold) == (sweep, best, None)


def test_a_set_a_fold_flags_as_overfitted_is_promoted_only_when_confirmed() -> None:
    sweep = sweep_create(owner=UserFactory(), data=sweep_data(MarketFactory(), hours=1040, folds=6))
    inside = sweep.sets.filter(window="is0").order_by("id")
    for value, row in zip([2.0, 1.0], inside[:2], strict=True):
        set_record(sweep=sweep, row=row, outcome={"total_return_pct": value, "trades": 3})
    for row in inside[2:]:
        set_record(sweep=sweep, row=row, outcome={"total_return_pct": None, "trades": 0})
    best = inside.first()
    out = SweepSet.objects.create(
        sweep=sweep,
        window="oos0",
        params_hash=best.params_hash,
        parameters=best.parameters,
        chunk=999,
    )
    set_record(sweep=sweep, row=out, outcome={"total_return_pct": 0.1, "trades": 1})

    with pytest.raises(SweepConflict, match="fold 0 flags this set as likely overfitted"):
        sweep_promote(sweep=sweep, sweep_set=best, owner=sweep.owner, name="risky")
    promotion = sweep_promote(
        sweep=sweep, sweep_set=best, owner=sweep.owner, name="risky", confirm_overfitted=True
    )

    assert (promotion.fold, promotion.overfitted) == (0, True)
    assert SweepPromotion.objects.count() == 1
