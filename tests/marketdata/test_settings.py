"""Settings that market data reads: key=number mappings such as retention per timeframe."""

from __future__ import annotations

import pytest

from project import env
from project.env import SettingError


def test_integer_mapping_reads_key_number_pairs() -> None:
    parsed = env.integer_mapping("X", {"X": " 1m=30, 1h=0 "})

    assert parsed == {"1m": 30, "1h": 0}


@pytest.mark.parametrize("raw", ["1m", "1m=-1", "1m=ten", "=3"])
def test_integer_mapping_names_the_variable_on_a_bad_pair(raw: str) -> None:
    with pytest.raises(SettingError, match=r"^RETENTION_CANDLE_DAYS: "):
        env.integer_mapping("RETENTION_CANDLE_DAYS", {"RETENTION_CANDLE_DAYS": raw})
