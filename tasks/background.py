"""The CPU priority of a worker that consumes only the `backtests` queue (BACKTEST_WORKER_PRIORITY).

With "idle" the worker's process and the pool processes it forks run under Linux's SCHED_IDLE:
a strategy worker's process that wakes up takes the core at once, where `nice` alone (even 19)
still leaves a backtest a share of each core and makes the waking process wait its turn. Where
the system has no SCHED_IDLE it falls back to nice 19. A worker that also consumes a live
queue is never lowered.

Both act only among the processes of one scheduling group. With autogroups on (Linux's default
outside a CPU cgroup), each session is a group of its own with an equal share, and honcho (and
every process manager that starts each line in a new session) makes each Procfile line one: a
backtests line at SCHED_IDLE or nice 19 still takes half the cores from the strategy worker's
group. So when the session is this worker's alone, its group is set to nice 19 too
(`/proc/self/autogroup`). Under systemd, whose services are CPU cgroups, give the unit
`CPUWeight=idle` instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery import signals
from django.conf import settings

logger = logging.getLogger(__name__)


@signals.celeryd_after_setup.connect
def backtests_worker_priority(sender: str, instance: Any, **kwargs: Any) -> None:
    """Lower the priority before the pool forks (its processes inherit it)."""
    from strategies.backtesting.services import BACKTESTS_QUEUE  # where a worker starts only

    queues = instance.app.amqp.queues.consume_from
    if settings.BACKTEST_WORKER_PRIORITY != "idle" or set(queues or ()) != {BACKTESTS_QUEUE}:
        return
    logger.info("%s: %s; %s", sender, priority_idle(), autogroup_nice())


def priority_idle() -> str:
    """This process (every thread of it) at SCHED_IDLE, or nice 19 where there is none."""
    if not hasattr(os, "SCHED_IDLE"):
        os.nice(19 - os.nice(0))
        return "nice 19 (no SCHED_IDLE here)"
    threads = Path("/proc/self/task")
    ids = [int(t.name) for t in threads.iterdir()] if threads.is_dir() else [0]
    for thread in ids:
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
    return f"SCHED_IDLE ({len(ids)} threads)"


def autogroup_nice() -> str:
    """This session's autogroup at nice 19, if autogroups are on and every process of the
    session is this one, its wrappers (`sh`, `nice`) or what it forks."""
    group, enabled = Path("/proc/self/autogroup"), Path("/proc/sys/kernel/sched_autogroup_enabled")
    if not group.exists() or not enabled.exists() or enabled.read_text().strip() != "1":
        return "no autogroups here"
    if not _session_is_ours():
        return "autogroup shared with other processes: left as it is"
    try:
        group.write_text("19")
    except OSError as error:
        return f"autogroup left as it is ({error})"
    return f"autogroup {group.read_text().strip()}"


def _session_is_ours() -> bool:
    me, session = os.getpid(), os.getsid(0)
    mine = {me, *_ancestors(me)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            if os.getsid(int(entry.name)) == session and me not in _ancestors(int(entry.name)):
                return False
        except OSError:  # ended meanwhile
            continue
    return True


def _ancestors(pid: int) -> list[int]:
    """The process's parent, its parent's parent, ... up to init."""
    chain = []
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain
