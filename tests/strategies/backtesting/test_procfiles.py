"""Both Procfiles run backtests on their own worker line, at a lower CPU priority, and the
strategies' worker never consumes the `backtests` queue."""

from __future__ import annotations

import pytest

from project.devstack.embedded import BASE_DIR
from strategies.backtesting.services import BACKTESTS_QUEUE


def lines(name: str) -> dict[str, str]:
    entries = (line.partition(":") for line in (BASE_DIR / name).read_text().splitlines())
    return {role.strip(): command.strip() for role, sep, command in entries if sep}


@pytest.mark.parametrize("procfile", ["Procfile", "Procfile.dev"])
def test_backtests_have_their_own_niced_worker_line(procfile: str) -> None:
    roles = lines(procfile)

    backtests, worker = roles["backtests"].split(), roles["worker"].split()

    assert backtests[:3] == ["nice", "-n", "10"]
    assert backtests[backtests.index("-Q") + 1] == BACKTESTS_QUEUE
    assert "-n" in backtests[3:]  # a node name of its own beside the strategies' worker
    assert "-Q" not in worker  # the default queue only: ticks never wait behind a backtest
