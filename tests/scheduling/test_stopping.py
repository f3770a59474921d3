"""A stop signal that arrives during a beat's tick is delivered when the tick is over."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from tasks.scheduling.stopping import stop_signals_held


@pytest.fixture
def received() -> Iterator[list[str]]:
    """SIGTERM recorded instead of stopping the test process; the old handler put back."""
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("handled"))
    yield seen
    signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_during_the_block_reaches_the_old_handler_after_it(
    received: list[str],
) -> None:
    with stop_signals_held():
        os.kill(os.getpid(), signal.SIGTERM)
        received.append("block finished")

    assert received == ["block finished", "handled"]


def test_a_sigterm_after_the_block_is_handled_at_once(received: list[str]) -> None:
    with stop_signals_held():
        pass
    os.kill(os.getpid(), signal.SIGTERM)

    assert received == ["handled"]


def test_outside_the_main_thread_the_block_runs_untouched(received: list[str]) -> None:
    handlers: list[object] = []

    def block() -> None:
        with stop_signals_held():
            handlers.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=block)
    worker.start()
    worker.join()

    assert handlers == [signal.getsignal(signal.SIGTERM)]
