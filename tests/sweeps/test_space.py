"""A sweep's space: values checked by the kind's schema, combinations by its cross-field rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strategies.engine import get_strategy_class
from strategies.sweeps.space import SpaceError, grid_sets, random_sets, set_hash, space_parse

SMA = get_strategy_class("sma_crossover")


def test_a_grid_leaves_out_the_sets_the_kinds_cross_field_rule_refuses() -> None:
    axes = space_parse(
        SMA, {"fast": {"values": [5, 10, 20]}, "slow": {"min": 10, "max": 30, "step": 10}}
    )

    sets = list(grid_sets(SMA, axes))

    pairs = [(s["fast"], s["slow"]) for s in sets]
    # fast < slow only: (10, 10), (20, 10) and (20, 20) are refused by SmaCrossover.check.
    assert pairs == [(5, 10), (5, 20), (5, 30), (10, 20), (10, 30), (20, 30)]
    assert all(s["quote_amount"] == Decimal(100) for s in sets)


def test_values_outside_the_schema_are_refused_per_parameter() -> None:
    with pytest.raises(SpaceError) as caught:
        space_parse(SMA, {"fast": {"values": [0]}, "slow": {"min": 5, "max": 2000}, "nope": {}})

    assert caught.value.errors == {
        "fast": "must be at least 1",
        "slow": "must be at most 1000",
        "nope": "unknown parameter (known: fast, quote_amount, slow)",
    }


def test_a_range_in_a_grid_needs_a_step() -> None:
    axes = space_parse(SMA, {"fast": {"min": 1, "max": 5}})

    with pytest.raises(SpaceError, match="needs a step"):
        list(grid_sets(SMA, axes))


def test_random_sets_are_distinct_accepted_and_the_same_for_the_same_seed() -> None:
    axes = space_parse(SMA, {"fast": {"min": 1, "max": 50}, "slow": {"min": 2, "max": 200}})

    first = random_sets(SMA, axes, size=40, seed=7)
    again = random_sets(SMA, axes, size=40, seed=7)

    assert first == again
    assert len(first) == 40
    assert len({set_hash(s) for s in first}) == 40
    assert all(s["fast"] < s["slow"] for s in first)


def test_the_set_hash_is_its_canonical_json() -> None:
    one = SMA.clean_parameters({"fast": 3, "slow": 9})
    same = SMA.clean_parameters({"slow": 9, "fast": 3, "quote_amount": "100"})

    assert set_hash(one) == set_hash(same)
    assert set_hash(one) != set_hash(SMA.clean_parameters({"fast": 4, "slow": 9}))
