"""A stop signal that waits for the end of a beat's tick.

`celery beat` answers SIGTERM and SIGINT by raising SystemExit wherever the signal lands. Landing
between a publish and the commit that marks its firings published, it leaves them pending
although they are in the broker; another beat then adopts and publishes them again (the same
task ids, harmless to the tasks, but twice in the queue). Every deploy sends that SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold SIGTERM and SIGINT for the block, then deliver the first one that came to the
    handler that was installed before. Signals can only be handled in the main thread; in any
    other the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    handlers = {
        signum: signal.signal(signum, lambda signum, _: held.append(signum))
        for signum in STOP_SIGNALS
    }
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])
