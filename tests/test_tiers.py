"""The fast tier (`make test-fast`, `-m "not integration"`) starts no process: a test that
would start one without the mark fails, in either tier."""

from __future__ import annotations

import sys

import pytest

from tests.processes import run_process, start_process


def test_an_unmarked_test_cannot_start_a_process() -> None:
    with pytest.raises(RuntimeError, match=r"mark it pytest\.mark\.integration"):
        run_process([sys.executable, "-c", "print(1)"])
    with pytest.raises(RuntimeError, match="starts a sleeper process"):
        start_process("sleeper", ["sleep", "60"])


@pytest.mark.integration
def test_a_marked_test_may() -> None:
    result = run_process([sys.executable, "-c", "print(6 * 7)"])

    assert result.stdout.strip() == "42"
